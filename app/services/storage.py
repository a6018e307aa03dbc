"""Attachment storage on the local disk, with the type checked from the bytes."""
from __future__ import annotations

import io
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ServiceError

log = logging.getLogger(__name__)

# What we accept, by the type the bytes say they are (never by name or header).
IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF",
               "image/webp": "WEBP"}
FILE_TYPES = {
    "application/pdf", "application/zip", "application/gzip", "application/x-7z-compressed",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/rtf", "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/mp4",
    "audio/aac", "audio/x-m4a", "audio/webm", "video/mp4", "video/webm", "video/quicktime",
    "image/heic", "image/bmp", "image/tiff",
}
TEXT_EXTENSIONS = {".txt": "text/plain", ".csv": "text/csv", ".log": "text/plain",
                   ".md": "text/plain", ".json": "application/json"}
MAX_IMAGE_PIXELS = 40_000_000


class UploadRejected(ServiceError):
    status = 400


@dataclass
class StoredFile:
    storage_key: str
    filename: str
    mime: str
    size: int
    is_image: bool
    width: int | None = None
    height: int | None = None

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _root() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def safe_filename(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"/\\|?*')
    return (name or "file")[:200]


def _sniff(data: bytes, filename: str) -> str | None:
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    ext = os.path.splitext(filename)[1].lower()
    if ext in TEXT_EXTENSIONS:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if b"\x00" in data:
            return None
        return TEXT_EXTENSIONS[ext]
    return None


def _reencode_image(data: bytes, mime: str) -> tuple[bytes, int, int]:
    """Re-encode so that what we serve is an image we produced: no hidden payloads,
    no EXIF location data."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            width, height = img.size
            if mime == "image/gif" and getattr(img, "is_animated", False):
                return data, width, height  # keep animations; the bytes are a verified GIF
            out = io.BytesIO()
            fmt = IMAGE_TYPES[mime]
            if fmt == "JPEG":
                img = img.convert("RGB")
                img.save(out, fmt, quality=88, optimize=True)
            else:
                img.save(out, fmt)
            return out.getvalue(), width, height
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError,
            SyntaxError, EOFError) as exc:  # Pillow reports a corrupt file in many ways
        raise UploadRejected(_("This image could not be read.")) from exc


def save_upload(data: bytes, filename: str, max_size: int | None = None) -> StoredFile:
    """Check and store an uploaded file. Raises UploadRejected with a readable reason."""
    max_size = max_size or current_app.config["MAX_UPLOAD_BYTES"]
    filename = safe_filename(filename)
    if not data:
        raise UploadRejected(_("The file is empty."))
    if len(data) > max_size:
        raise UploadRejected(_("The file is too large (the limit is %(mb)s MB).",
                               mb=round(max_size / 1024 / 1024, 1)), status=413)
    mime = _sniff(data, filename)
    if mime is None or (mime not in IMAGE_TYPES and mime not in FILE_TYPES
                        and mime not in TEXT_EXTENSIONS.values()):
        log.info("storage: rejected upload %r (detected %s)", filename, mime)
        raise UploadRejected(_("This type of file is not allowed."), status=415)
    width = height = None
    is_image = mime in IMAGE_TYPES
    if is_image:
        data, width, height = _reencode_image(data, mime)
    key = f"{secrets.token_hex(2)}/{secrets.token_urlsafe(18)}"
    path = _root() / key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return StoredFile(storage_key=key, filename=filename, mime=mime, size=len(data),
                      is_image=is_image, width=width, height=height)


def path_for(storage_key: str) -> Path:
    root = _root().resolve()
    path = (root / storage_key).resolve()
    if root not in path.parents:
        raise FileNotFoundError(storage_key)
    return path


def existing_path(storage_key: str) -> Path | None:
    """The stored file's path, or None when it is gone (or the key points outside)."""
    try:
        path = path_for(storage_key)
    except FileNotFoundError:
        return None
    return path if path.exists() else None


def discard(storage_key: str) -> None:
    """Remove a stored file that was refused after all."""
    try:
        path_for(storage_key).unlink(missing_ok=True)
    except (FileNotFoundError, OSError):
        pass


def square_thumbnail(data: bytes, side: int = 128) -> bytes:
    """A small square JPEG (centre crop) for avatars: lists show dozens of them."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.fit(img.convert("RGB"), (side, side))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=85, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError,
            SyntaxError, EOFError) as exc:
        raise UploadRejected(_("This image could not be read.")) from exc


def image_mime(path: Path) -> str:
    kind = filetype.guess(str(path))
    return kind.mime if kind is not None and kind.mime in IMAGE_TYPES else "application/octet-stream"
