"""Channel secrets (bot tokens, webhook secrets) encrypted at rest with a key derived
from SECRET_KEY. They are never logged or rendered."""
from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def _fernet() -> Fernet:
    cache = current_app.extensions.get("switchboard_fernet")
    if cache is None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"switchboard",
                   info=b"channel-secrets").derive(current_app.config["SECRET_KEY"].encode())
        cache = current_app.extensions["switchboard_fernet"] = Fernet(base64.urlsafe_b64encode(key))
    return cache


def encrypt(data: dict) -> str:
    return _fernet().encrypt(json.dumps(data).encode()).decode()


def decrypt(token: str | None) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        # SECRET_KEY changed: the channel needs its token entered again.
        return {}


def mask(token: str) -> str:
    """What may be shown of a token: enough to recognise it, not to use it."""
    if len(token) < 12:
        return "•" * len(token)
    return f"{token[:6]}…{token[-4:]}"
