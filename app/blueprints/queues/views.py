from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...extensions import db
from ...models import ChatQueue, User, utcnow
from ...services import hours, queues
from ...services.errors import ServiceError
from ..forms_common import EmptyForm
from . import bp
from .forms import QueueForm


@bp.before_request
@login_required
def _only_configurers():
    if not current_user.can_configure:
        abort(403)


def _choices(form, queue):
    form.members.choices = [(u.id, u.name) for u in db.session.scalars(
        db.select(User).where(User.is_enabled.is_(True)).order_by(User.name))]
    others = db.select(ChatQueue).order_by(ChatQueue.name)
    if queue is not None:
        others = others.where(ChatQueue.id != queue.id)
    form.fallback_queue_id.choices = [(0, _("None: back to this queue"))] + [
        (q.id, q.name) for q in db.session.scalars(others)]


@bp.get("/settings/queues")
def index():
    rows = list(db.session.scalars(db.select(ChatQueue).order_by(ChatQueue.name)))
    return render_template("queues/index.html", queues=rows, welcome=request.args.get("welcome"),
                           mode_label=queues.mode_label)


@bp.route("/settings/queues/new", methods=["GET", "POST"])
@bp.route("/settings/queues/<int:queue_id>", methods=["GET", "POST"])
def edit(queue_id=None):
    queue = None
    if queue_id is not None:
        queue = db.session.get(ChatQueue, queue_id) or abort(404)
    form = QueueForm(obj=queue, queue=queue)
    _choices(form, queue)
    if request.method == "GET":
        if queue is not None:
            form.members.data = [u.id for u in queue.members]
        form.holidays.append_entry()  # one empty row to add a holiday
    if form.validate_on_submit():
        settings = form.to_settings()
        try:
            queue = queues.save_queue(queue, form.name.data, form.member_ids(), settings)
        except queues.InvalidSettings as exc:
            form.apply_problems(exc.problems)
        except ServiceError as exc:
            form.name.errors.append(exc.message)
        else:
            flash(_("Queue “%(name)s” saved.", name=queue.name), "success")
            for warning in queues.settings_warnings(settings, form.member_ids()):
                flash(warning, "warning")
            return redirect(url_for("queues.index"))
    return render_template("queues/form.html", form=form, queue=queue,
                           delete_form=EmptyForm(), timezones=hours.timezone_names(),
                           warnings=_warnings(form, queue), hours_now=_hours_now(queue)), \
        400 if form.errors else 200


def _warnings(form, queue):
    # Not on an untouched new form: "no members yet" is its natural state.
    if (queue is None and request.method == "GET") or not form.routing_mode.data:
        return []
    return queues.settings_warnings(form.to_settings(), form.member_ids())


def _hours_now(queue):
    """"Open now" / "Closed now; opens Monday 09:00 (Europe/Berlin)" for the saved hours."""
    if queue is None or not queue.hours_enabled:
        return ""
    now = utcnow()
    if hours.is_open(queue, now):
        return _("With the saved hours the queue is open now.")
    when = hours.format_next_opening(queue, now, get_locale())
    if when:
        return _("With the saved hours the queue is closed now; it opens %(when)s.", when=when)
    return _("With the saved hours the queue is closed now and does not open within a year.")


@bp.post("/settings/queues/<int:queue_id>/delete")
def delete(queue_id):
    queue = db.session.get(ChatQueue, queue_id) or abort(404)
    if EmptyForm().validate_on_submit():
        name = queue.name
        queues.delete_queue(queue)
        flash(_("Queue “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("queues.index"))
