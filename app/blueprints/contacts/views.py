"""Contacts: searchable list and the contact card with history across channels."""
from flask import abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from ...extensions import db
from ...models import Chat, Contact
from ...services import access, chats, contacts, storage
from ..forms_common import EmptyForm
from . import bp


@bp.get("/contacts")
@login_required
def index():
    q = (request.args.get("q") or "").strip()
    page = db.paginate(contacts.search_contacts(current_user, q), per_page=30, error_out=False)
    template = "contacts/_results.html" if request.headers.get("HX-Target") == "contact-results" \
        else "contacts/index.html"
    return render_template(template, page=page, q=q)


@bp.get("/contacts/<int:contact_id>")
@login_required
def card(contact_id):
    contact = db.session.scalar(contacts.visible_contacts(current_user).where(
        Contact.id == contact_id)) or abort(404)
    history = list(db.session.scalars(access.visible_chats(current_user)
                                      .where(Chat.contact_id == contact.id)
                                      .order_by(Chat.created_at.desc())))
    open_chats = {c.identity_id: c for c in history if c.is_open}
    refusals = {i.id: chats.start_refusal(current_user, i) for i in contact.identities}
    return render_template("contacts/card.html", contact=contact, history=history,
                           open_chats=open_chats, refusals=refusals, form=EmptyForm())


@bp.post("/contacts/<int:contact_id>/identities/<int:identity_id>/chat")
@login_required
def start_chat(contact_id, identity_id):
    """The operator writes first: the new chat is theirs."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    contact = db.session.scalar(contacts.visible_contacts(current_user).where(
        Contact.id == contact_id)) or abort(404)
    if identity_id not in {i.id for i in contact.identities}:
        abort(404)
    chat = chats.start_chat(current_user, identity_id)
    return redirect(url_for("workspace.index", chat_id=chat.id))


@bp.get("/contacts/<int:contact_id>/avatar")
@login_required
def avatar(contact_id):
    """The contact's picture; the URL carries a version, so browsers may keep it long."""
    contact = db.session.scalar(contacts.visible_contacts(current_user).where(
        Contact.id == contact_id)) or abort(404)
    if not contact.avatar_key:
        abort(404)
    path = storage.existing_path(contact.avatar_key) or abort(404)
    resp = send_file(path, mimetype=storage.image_mime(path), conditional=True)
    resp.headers["Cache-Control"] = "private, max-age=604800, immutable"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
