"""Attachments for signed-in users, served only to those who may see the chat."""
from flask import abort, request, send_file
from flask_login import current_user, login_required

from ...extensions import db
from ...models import Attachment
from ...services import access, public_files, storage
from . import bp


def send_attachment(attachment: Attachment, force_download: bool):
    path = storage.existing_path(attachment.storage_key) or abort(404)
    inline = attachment.is_image and not force_download
    resp = send_file(path, mimetype=attachment.mime if inline else "application/octet-stream",
                     as_attachment=not inline, download_name=attachment.filename,
                     max_age=3600, conditional=True)
    resp.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/files/<int:attachment_id>")
@login_required
def attachment(attachment_id):
    att = db.session.get(Attachment, attachment_id) or abort(404)
    access.get_visible_chat(current_user, att.message.chat_id)
    return send_attachment(att, bool(request.args.get("download")))


@bp.get("/public/files/<token>/<path:_name>")
def public(token, _name):
    """For providers that download what we send (Viber): signed, expiring, no login."""
    attachment_id = public_files.read_token(token)
    att = db.session.get(Attachment, attachment_id) if attachment_id else None
    if att is None:
        abort(404)
    return send_attachment(att, force_download=not att.is_image)
