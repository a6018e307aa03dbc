"""The JSON the website widget reads: messages and chat state as the visitor sees them."""
from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from ..models import Attachment, Channel, Chat, Message

FILE_SALT = "switchboard.widget-file"


def console_url(channel: Channel) -> str:
    return (current_app.config.get("PUBLIC_URL") or channel.setting("console_url") or "").rstrip("/")


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=FILE_SALT)


def file_token(attachment: Attachment, channel: Channel) -> str:
    return _signer().dumps([attachment.id, channel.id])


def read_file_token(token: str) -> tuple[int, int] | None:
    try:
        attachment_id, channel_id = _signer().loads(token)
        return int(attachment_id), int(channel_id)
    except (BadSignature, ValueError, TypeError):
        return None


def attachment_json(attachment: Attachment, channel: Channel) -> dict:
    return {
        "url": f"{console_url(channel)}/widget/v1/{channel.public_id}/files/"
               f"{file_token(attachment, channel)}",
        "name": attachment.filename, "mime": attachment.mime, "size": attachment.size,
        "image": attachment.is_image,
    }


def message_json(message: Message, channel: Channel) -> dict:
    return {
        "id": message.id,
        "client_id": message.client_id,
        "direction": message.direction,
        "text": message.text or "",
        "created_at": message.sent_at.isoformat(),
        "status": message.status,
        "author": message.author.name.split()[0] if message.author and message.author.name else None,
        "attachments": [attachment_json(a, channel) for a in message.attachments],
    }


def chat_json(chat: Chat | None) -> dict | None:
    if chat is None:
        return None
    return {"id": chat.id, "status": chat.status}
