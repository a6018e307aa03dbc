"""Contacts: searchable list and the contact card with history across channels."""
from flask import abort, render_template, request
from flask_login import current_user, login_required

from ...extensions import db
from ...models import Chat, Contact
from ...services import access, contacts
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
    return render_template("contacts/card.html", contact=contact, history=history)
