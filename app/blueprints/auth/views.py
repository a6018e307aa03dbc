import logging
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ...extensions import db, limiter
from ...models import User
from . import bp
from .forms import LoginForm

log = logging.getLogger(__name__)


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_key():
    # Limit per address and per account, so neither spraying nor one noisy client works.
    email = (request.form.get("email") or "").strip().lower()
    return f"{request.remote_addr}|{email}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, key_func=_login_key, methods=["POST"])
@limiter.limit(lambda: "50 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("workspace.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(db.select(User).where(
            db.func.lower(User.email) == form.email.data.strip().lower()))
        if user is None or not user.check_password(form.password.data):
            log.info("failed login for %r from %s", form.email.data, request.remote_addr)
            form.password.errors.append(_("The e-mail or password is wrong."))
        elif not user.is_enabled:
            log.info("login refused for deactivated user %s", user.id)
            form.password.errors.append(_("This account has been deactivated."))
        else:
            login_user(user, remember=form.remember.data)
            log.info("user %s logged in", user.id)
            target = request.args.get("next", "")
            parts = urlsplit(target)
            if not target.startswith("/") or parts.netloc or parts.scheme or target.startswith("//"):
                target = url_for("workspace.index")
            resp = redirect(target)
            resp.set_cookie("lang", user.language, samesite="Lax", max_age=3600 * 24 * 365)
            return resp
    status = 400 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    from ...services.users import set_presence
    set_presence(current_user, "offline")
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/language/<code>")
def language(code):
    """Before logging in (login page, setup wizard) the language lives in a cookie."""
    from ...services.users import set_language
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    if current_user.is_authenticated:
        set_language(current_user, code)
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("auth.login")
    resp = redirect(target)
    resp.set_cookie("lang", code, samesite="Lax", max_age=3600 * 24 * 365)
    return resp
