"""Request-level glue: locale, login loader, template helpers, errors, security headers."""
from __future__ import annotations

import logging

from flask import has_request_context, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_decimal, format_time, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from .extensions import db, login_manager
from .models import User
from .services.errors import ServiceError

log = logging.getLogger("switchboard.web")


def select_locale():
    if not has_request_context():
        return "en"  # the worker: logs and stored reasons are written in English
    langs = ("en", "ru")
    if current_user and current_user.is_authenticated:
        return current_user.language
    cookie = request.cookies.get("lang")
    if cookie in langs:
        return cookie
    return request.accept_languages.best_match(langs) or "en"


@login_manager.user_loader
def load_user(user_id: str):
    # A deactivated user's open sessions end with their next request.
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_enabled else None


def wants_json() -> bool:
    return request.path.startswith("/widget/") or request.path.startswith("/api/")


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def error_response(status: int, message: str):
    """One place that turns a refusal into what the caller can read: JSON for the
    widget, a toast for htmx, a page otherwise."""
    if wants_json():
        resp = jsonify(error=message)
        resp.status_code = status
        return resp
    if is_htmx():
        resp = render_template("partials/_toast.html", message=message, level="error")
        # Not HX-Retarget: htmx resolves that against the element that sent the request,
        # which a live update may have removed meanwhile ("Invalid re-target"). app.js shows
        # responses marked with this header as toasts.
        return resp, status, {"X-Switchboard-Toast": "1"}
    return render_template("error.html", status=status, message=message), status


def linkify(text: str) -> Markup:
    """Escape message text and make http(s) links clickable; nothing else is trusted."""
    import re
    out, last = [], 0
    for m in re.finditer(r"https?://[^\s<>\"']+", text or ""):
        url = m.group(0).rstrip(".,;:!?)")
        out.append(escape(text[last:m.start()]))
        out.append(Markup('<a href="{0}" target="_blank" rel="noopener noreferrer nofollow">{0}</a>')
                   .format(url))
        last = m.start() + len(url)
    out.append(escape((text or "")[last:]))
    return Markup("").join(out)


def duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(s)s s", s=seconds)
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)s min %(s)s s", m=minutes, s=s)
    hours, m = divmod(minutes, 60)
    return _("%(h)s h %(m)s min", h=hours, m=m)


def human_size(n: int) -> str:
    if n < 1024:
        return _("%(n)s B", n=n)
    if n < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(round(n / 1024, 1)))
    return _("%(n)s MB", n=format_decimal(round(n / 1024 / 1024, 1)))


def contact_label(contact) -> str:
    if contact is None:
        return ""
    if contact.name:
        return contact.name
    return _("Visitor #%(id)s", id=contact.id)


def dt(value, fmt="short") -> str:
    if value is None:
        return ""
    return format_datetime(value, fmt)


def time_only(value) -> str:
    return format_time(value, "short") if value else ""


def init_app(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"

    from .services.history import describe as event_text, why_here
    app.jinja_env.filters.update(event_text=event_text, why_here=why_here, linkify=linkify, duration=duration, human_size=human_size,
                                 contact_label=contact_label, dt=dt, time_only=time_only)

    @app.context_processor
    def inject():
        return {"current_locale": str(get_locale() or "en")}

    @app.before_request
    def require_setup():
        # Until the first admin exists, every page leads to the setup wizard.
        endpoint = request.endpoint or ""
        if endpoint.startswith(("setup.", "static", "health", "auth.language", "webhooks.",
                                "files.public")) or \
                request.path.startswith("/widget/"):
            return None
        if app.extensions.get("switchboard_setup_done"):
            return None
        from .services.users import setup_done
        if setup_done():
            app.extensions["switchboard_setup_done"] = True
            return None
        return redirect(url_for("setup.wizard"))

    @app.after_request
    def security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        if not request.path.startswith("/widget/"):
            resp.headers.setdefault("X-Frame-Options", "DENY")
            resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        log.info("refused %s %s: %s (%s)", request.method, request.path, exc.message, exc.status)
        return error_response(exc.status, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        log.warning("CSRF check failed on %s %s: %s", request.method, request.path,
                    exc.description)
        return error_response(400, _("Your session has expired or the form is stale. "
                                     "Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            400: _("The request could not be understood."),
            403: _("You do not have access to this page."),
            404: _("This page does not exist."),
            405: _("This action is not allowed here."),
            413: _("The upload is too large."),
            415: _("This type of file is not allowed."),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        message = messages.get(exc.code, exc.description or _("Something went wrong."))
        if exc.code and exc.code >= 400 and exc.code < 500:
            log.info("%s %s -> %s", request.method, request.path, exc.code)
        return error_response(exc.code or 500, message)

    @app.errorhandler(Exception)
    def unexpected(exc):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, _("Something went wrong on our side. It has been logged."))

    @app.get("/healthz", endpoint="health")
    def health():
        return {"ok": True}
