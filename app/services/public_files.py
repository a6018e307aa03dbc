"""Unguessable, expiring public links to our stored attachments, for providers that
fetch media by URL instead of taking uploads (Viber)."""
from __future__ import annotations

from urllib.parse import quote

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..models import Attachment, Channel

SALT = "switchboard.public-file"
MAX_AGE_SECONDS = 7 * 24 * 3600


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def url_for_attachment(attachment: Attachment, channel: Channel) -> str:
    base = (current_app.config.get("PUBLIC_URL") or channel.setting("console_url") or "").rstrip("/")
    token = _signer().dumps(attachment.id)
    return f"{base}/public/files/{token}/{quote(attachment.filename)}"


def read_token(token: str) -> int | None:
    try:
        return int(_signer().loads(token, max_age=MAX_AGE_SECONDS))
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
