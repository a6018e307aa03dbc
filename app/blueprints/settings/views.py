from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...extensions import db
from ...models import ChatQueue, User
from ...services import users
from ...services.errors import ServiceError
from ...services.queues import InvalidSettings
from ..forms_common import EmptyForm
from . import bp
from .forms import AccountForm, UserForm


def _require_admin():
    if not current_user.is_admin:
        abort(403)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = AccountForm(obj=current_user)
    if form.validate_on_submit():
        if form.new_password.data:
            if not current_user.check_password(form.current_password.data or ""):
                form.current_password.errors.append(_("The current password is wrong."))
                return render_template("settings/account.html", form=form), 400
            current_user.set_password(form.new_password.data)
        users.set_language(current_user, form.language.data)
        flash(_("Your settings have been saved."), "success")
        resp = redirect(url_for("settings.account"))
        resp.set_cookie("lang", form.language.data, samesite="Lax", max_age=3600 * 24 * 365)
        return resp
    return render_template("settings/account.html", form=form), 400 if form.errors else 200


@bp.get("/settings/users", endpoint="users")
@login_required
def users_list():
    _require_admin()
    rows = db.session.scalars(db.select(User).order_by(User.is_enabled.desc(), User.name))
    return render_template("settings/users.html", users=list(rows), form=EmptyForm())



def _show_problems(form, problems):
    for name, messages in problems.items():
        form[name].errors.extend(messages)


def _queue_choices(form):
    form.queues.choices = [(q.id, q.name) for q in db.session.scalars(
        db.select(ChatQueue).order_by(ChatQueue.name))]


@bp.route("/settings/users/new", methods=["GET", "POST"])
@login_required
def user_new():
    _require_admin()
    form = UserForm()
    _queue_choices(form)
    if form.validate_on_submit():
        if not form.password.data:
            form.password.errors.append(_("Set a first password for the new user."))
        else:
            try:
                user = users.create_user(form.name.data, form.email.data, form.password.data,
                                         form.role.data, form.language.data, form.queues.data,
                                         max_load=form.max_load.data)
            except InvalidSettings as exc:
                _show_problems(form, exc.problems)
            except ServiceError as exc:
                form.email.errors.append(exc.message)
            else:
                flash(_("%(name)s can now log in.", name=user.name), "success")
                return redirect(url_for("settings.users"))
    return render_template("settings/user_form.html", form=form, user=None), \
        400 if form.errors else 200


@bp.route("/settings/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def user_edit(user_id):
    _require_admin()
    user = db.session.get(User, user_id) or abort(404)
    form = UserForm(obj=user)
    _queue_choices(form)
    if request.method == "GET":
        form.queues.data = [q.id for q in user.queues]
    if form.validate_on_submit():
        try:
            users.update_user(user, name=form.name.data, email=form.email.data,
                              role=form.role.data, language=form.language.data,
                              queue_ids=form.queues.data, password=form.password.data,
                              actor=current_user, max_load=form.max_load.data)
        except InvalidSettings as exc:
            _show_problems(form, exc.problems)
        except ServiceError as exc:
            form.role.errors.append(exc.message)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("settings.users"))
    return render_template("settings/user_form.html", form=form, user=user), \
        400 if form.errors else 200


@bp.post("/settings/users/<int:user_id>/enabled")
@login_required
def user_enabled(user_id):
    _require_admin()
    user = db.session.get(User, user_id) or abort(404)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            users.set_enabled(user, request.form.get("enabled") == "1", current_user)
        except ServiceError as exc:  # e.g. the last member of an auto queue
            flash(exc.message, "error")
            return redirect(url_for("settings.users"))
        flash(_("%(name)s has been activated.", name=user.name) if user.is_enabled
              else _("%(name)s has been deactivated.", name=user.name), "success")
    return redirect(url_for("settings.users"))
