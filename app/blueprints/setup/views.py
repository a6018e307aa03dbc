from flask import abort, redirect, render_template, url_for
from flask_babel import get_locale
from flask_login import login_user

from ...services import users
from . import bp
from .forms import SetupForm


@bp.route("/setup", methods=["GET", "POST"])
def wizard():
    if users.setup_done():
        # The wizard is gone for good once an organisation exists.
        abort(404)
    form = SetupForm()
    if not form.is_submitted():
        form.language.data = str(get_locale() or "en")
    if form.validate_on_submit():
        admin = users.complete_setup(form.organization.data, form.name.data, form.email.data,
                                     form.password.data, form.language.data)
        login_user(admin)
        return redirect(url_for("queues.index", welcome=1))
    status = 400 if form.errors else 200
    return render_template("setup/wizard.html", form=form), status
