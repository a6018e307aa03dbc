"""The website widget's public API: config, conversation, messages, receipts, files and
a live socket. Cross-origin, allowed only from the channel's sites; rate limited."""
from __future__ import annotations

import json
import logging
import re

from flask import abort, current_app, g, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _
from simple_websocket import ConnectionClosed

from ...extensions import csrf, db, limiter, sock
from ...models import Attachment, Chat, ContactIdentity, Message, utcnow
from ...realtime import current_hub
from ...realtime.topics import visitor_topic
from ...services import delivery, inbound, storage, widget_view
from ...services.channels import ChannelSnapshot, channel_snapshot, normalize_origin
from ...services.errors import ServiceError
from ...services.storage import UploadRejected
from ..files.views import send_attachment
from . import bp

log = logging.getLogger(__name__)

VISITOR_RE = re.compile(r"^[0-9a-f]{32}$")
CLIENT_ID_RE = re.compile(r"^[0-9A-Za-z_-]{8,64}$")
MAX_TEXT = 5000

csrf.exempt(bp)  # a public, cross-origin API: protected by origin checks, not cookies


def _limit():
    return current_app.config["WIDGET_RATE_LIMIT"]


limiter.limit(_limit)(bp)


def _channel(public_id: str) -> ChannelSnapshot:
    channel = channel_snapshot(public_id, "website")
    if channel is None:
        log.info("widget: unknown channel %r from %s", public_id, request.headers.get("Origin"))
        raise ServiceError(_("This chat is not available."), status=404)
    return channel


def _request_origin() -> str | None:
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return normalize_origin(origin)
    return None


def _console_origin() -> str:
    return normalize_origin(request.host_url)


def _check_origin(channel: ChannelSnapshot) -> str:
    """The site embedding the widget must be one of the channel's allowed sites (the
    console itself is allowed too, for the preview page)."""
    origin = _request_origin()
    if origin is None and request.headers.get("Sec-Fetch-Site") == "same-origin":
        origin = _console_origin()
    allowed = set(channel.setting("allowed_origins", [])) | {_console_origin()}
    if origin not in allowed:
        log.warning("widget: origin %r refused for channel %s", request.headers.get("Origin"),
                    channel.id)
        raise ServiceError(_("This site is not allowed to use this chat."), status=403)
    g.widget_origin = origin
    return origin


def _visitor(value: str | None) -> str:
    if not value or not VISITOR_RE.match(value):
        raise ServiceError(_("The visitor id is missing or malformed."), status=400)
    return value


@bp.before_request
def _preflight():
    if request.method == "OPTIONS":
        _check_origin(_channel((request.view_args or {}).get("public_id", "")))
        return "", 204
    return None


@bp.after_request
def _cors(resp):
    # Only an origin that passed the channel's check may read the answer.
    origin = g.get("widget_origin")
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", origin)
        resp.headers["Vary"] = "Origin"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "Content-Type"
        resp.headers["Access-Control-Max-Age"] = "600"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/widget/v1/<public_id>/config")
def config(public_id):
    channel = _channel(public_id)
    _check_origin(channel)
    availability = widget_view.availability(channel, str(get_locale() or "en"))
    next_open = availability["next_open"]
    return jsonify(
        channel={"title": channel.name, "greeting": channel.setting("greeting", ""),
                 "color": channel.setting("color", "#4F46E5"),
                 "position": channel.setting("position", "right")},
        availability=availability,
        online=availability["available"],  # what widgets before `availability` read
        enabled=channel.is_enabled,
        max_file_size=current_app.config["MAX_UPLOAD_BYTES"],
        strings={
            "open": _("Open chat"), "close": _("Minimize chat"),
            "placeholder": _("Write a message…"), "send": _("Send"),
            "attach": _("Attach a file"), "online": _("We are online"),
            "offline": _("We are away — leave a message and we will reply here"),
            "away": _("We’re away"),
            "away_reply": (_("We’ll reply when we’re back, %(when)s", when=next_open)
                           if next_open else _("We’ll reply when we’re back")),
            "email_ask": _("Leave your e-mail and we’ll answer there"),
            "email_save": _("Save"),
            "closed": _("This conversation has ended."),
            "new_chat_hint": _("Write to start a new conversation"),
            "failed": _("Not sent"), "retry": _("Retry"),
            "file_too_large": _("The file is too large."), "sending": _("Sending…"),
            "connection_lost": _("Connection lost. Reconnecting…"),
            "powered_by": _("Powered by Switchboard"),
        })


def _latest_chat(channel: ChannelSnapshot, visitor: str) -> tuple[ContactIdentity | None, Chat | None]:
    identity = db.session.scalar(db.select(ContactIdentity).where(
        ContactIdentity.channel_id == channel.id, ContactIdentity.external_id == visitor))
    if identity is None:
        return None, None
    chat = db.session.scalar(db.select(Chat).where(Chat.identity_id == identity.id)
                             .order_by(Chat.id.desc()).limit(1))
    return identity, chat


@bp.get("/widget/v1/<public_id>/conversation")
def conversation(public_id):
    channel = _channel(public_id)
    _check_origin(channel)
    visitor = _visitor(request.args.get("visitor"))
    after = request.args.get("after", type=int) or 0
    _identity, chat = _latest_chat(channel, visitor)
    messages = []
    cursor = after
    if chat is not None:
        rows = db.session.scalars(db.select(Message).where(
            Message.chat_id == chat.id, Message.id > after).order_by(Message.id).limit(500))
        for m in rows:
            messages.append(widget_view.message_json(m, channel))
            cursor = max(cursor, m.id)
    # Accepted but not yet processed (the worker may be busy or down): still shown.
    for event in inbound.pending_events_for(channel, visitor):
        payload = event.payload
        messages.append({"id": None, "client_id": payload.get("client_id"), "direction": "in",
                         "text": payload.get("text", ""), "created_at": payload["received_at"],
                         "status": "accepted", "author": None,
                         "attachments": [{"url": None, "name": a["filename"], "mime": a["mime"],
                                          "size": a["size"], "image": a["is_image"]}
                                         for a in payload.get("attachments", [])]})
    return jsonify(chat=widget_view.chat_json(chat), messages=messages, cursor=cursor)


@bp.post("/widget/v1/<public_id>/messages")
def post_message(public_id):
    channel = _channel(public_id)
    origin = _check_origin(channel)
    if not channel.is_enabled:
        raise ServiceError(_("This chat is not available."), status=403)
    visitor = _visitor(request.form.get("visitor"))
    client_id = request.form.get("client_id", "")
    if not CLIENT_ID_RE.match(client_id):
        raise ServiceError(_("The message id is missing or malformed."), status=400)
    text = (request.form.get("text") or "").strip()
    if len(text) > MAX_TEXT:
        raise ServiceError(_("The message is too long (at most %(n)s characters).", n=MAX_TEXT))
    upload = request.files.get("file")
    attachments = []
    if upload is not None and upload.filename:
        try:
            stored = storage.save_upload(upload.read(), upload.filename)
        except UploadRejected as exc:
            log.info("widget: upload refused for channel %s: %s", channel.id, exc.message)
            raise
        attachments.append(stored.as_dict())
    if not text and not attachments:
        raise ServiceError(_("The message is empty."), status=400)
    payload = {"visitor": visitor, "client_id": client_id, "text": text,
               "attachments": attachments, "received_at": utcnow().isoformat(),
               "origin": origin, "page": (request.form.get("page") or "")[:500],
               "user_agent": (request.user_agent.string or "")[:300],
               "language": (request.accept_languages.best or "")[:20]}
    event, created = inbound.store_event(channel, f"{visitor}:{client_id}", payload,
                                         sender_ref=visitor)
    status = 202 if created else 200
    return jsonify(client_id=client_id, status="accepted"), status


@bp.post("/widget/v1/<public_id>/contact")
def contact(public_id):
    """The visitor leaves an e-mail while the team is away: stored on their contact."""
    channel = _channel(public_id)
    _check_origin(channel)
    if not channel.is_enabled:
        raise ServiceError(_("This chat is not available."), status=403)
    visitor = _visitor(request.form.get("visitor"))
    email = widget_view.save_visitor_email(channel, visitor, request.form.get("email"))
    return jsonify(email=email, message=_("Thanks — we’ll write to %(email)s.", email=email))


@bp.post("/widget/v1/<public_id>/receipts")
def receipts(public_id):
    channel = _channel(public_id)
    _check_origin(channel)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError(_("Expected a JSON object."), status=400)
    visitor = _visitor(data.get("visitor"))
    kind = "read" if "read" in data else "delivered"
    up_to = data.get(kind)
    if not isinstance(up_to, int) or up_to <= 0:
        raise ServiceError(_("Expected a message id."), status=400)
    _identity, chat = _latest_chat(channel, visitor)
    if chat is not None:
        delivery.record_receipt(chat.id, up_to, kind)
    return "", 204


@bp.get("/widget/v1/<public_id>/files/<token>")
def file(public_id, token):
    channel = _channel(public_id)
    ids = widget_view.read_file_token(token)
    if ids is None or ids[1] != channel.id:
        abort(404)
    att = db.session.get(Attachment, ids[0]) or abort(404)
    resp = send_attachment(att, bool(request.args.get("download")))
    resp.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return resp


@sock.route("/widget/v1/<public_id>/ws", bp=bp)
def visitor_socket(ws, public_id):
    try:
        channel = _channel(public_id)
        _check_origin(channel)
        visitor = _visitor(request.args.get("visitor"))
    except ServiceError as exc:
        ws.close(reason=1008, message=exc.message[:100])
        return
    sub = current_hub().subscribe({visitor_topic(channel.id, visitor)})
    db.session.close()
    try:
        ws.send(json.dumps({"type": "hello"}))
        while ws.connected:
            event = sub.get(timeout=20)
            if event is None:
                ws.send(json.dumps({"type": "ping"}))
            elif event.get("type") == "resync":
                ws.send(json.dumps({"type": "resync"}))
            else:
                ws.send(json.dumps(event))
    except ConnectionClosed:
        pass
    finally:
        sub.close()
