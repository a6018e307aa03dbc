from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms_common import LANGUAGE_CHOICES, role_choices


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AccountForm(FlaskForm):
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    current_password = PasswordField(_l("Current password"), validators=[Optional()])
    new_password = PasswordField(_l("New password"), validators=[
        Optional(), Length(min=10, max=200, message=_l("At least 10 characters."))])


class UserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(_l("Role"), choices=role_choices)
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    queues = MultiCheckboxField(_l("Queues"), coerce=int)
    password = PasswordField(_l("Password"), validators=[
        Optional(), Length(min=10, max=200, message=_l("At least 10 characters."))])
