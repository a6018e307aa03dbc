from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...extensions import db
from ...models import ChatQueue, User
from ...services import queues
from ...services.errors import ServiceError
from ..forms_common import EmptyForm
from . import bp
from .forms import QueueForm


@bp.before_request
@login_required
def _only_configurers():
    if not current_user.can_configure:
        abort(403)


def _member_choices(form):
    form.members.choices = [(u.id, u.name) for u in db.session.scalars(
        db.select(User).where(User.is_enabled.is_(True)).order_by(User.name))]


@bp.get("/settings/queues")
def index():
    rows = list(db.session.scalars(db.select(ChatQueue).order_by(ChatQueue.name)))
    return render_template("queues/index.html", queues=rows, welcome=request.args.get("welcome"))


@bp.route("/settings/queues/new", methods=["GET", "POST"])
@bp.route("/settings/queues/<int:queue_id>", methods=["GET", "POST"])
def edit(queue_id=None):
    queue = None
    if queue_id is not None:
        queue = db.session.get(ChatQueue, queue_id) or abort(404)
    form = QueueForm(obj=queue)
    _member_choices(form)
    if request.method == "GET" and queue is not None:
        form.members.data = [u.id for u in queue.members]
    if form.validate_on_submit():
        try:
            queue = queues.save_queue(queue, form.name.data, form.members.data)
        except ServiceError as exc:
            form.name.errors.append(exc.message)
        else:
            flash(_("Queue “%(name)s” saved.", name=queue.name), "success")
            return redirect(url_for("queues.index"))
    return render_template("queues/form.html", form=form, queue=queue,
                           delete_form=EmptyForm()), 400 if form.errors else 200


@bp.post("/settings/queues/<int:queue_id>/delete")
def delete(queue_id):
    queue = db.session.get(ChatQueue, queue_id) or abort(404)
    if EmptyForm().validate_on_submit():
        name = queue.name
        queues.delete_queue(queue)
        flash(_("Queue “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("queues.index"))
