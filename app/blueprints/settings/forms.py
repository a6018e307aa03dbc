from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (EmailField, IntegerField, PasswordField, SelectField, SelectMultipleField,
                     StringField)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ...services.queues import LIMITS, number_problem
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
    # Not sent at all (an older client): keeps the current value, or the default.
    max_load = IntegerField(_l("Maximum load"), default=3,
                            invalid_value_message=_l("Enter a whole number."),
                            render_kw={"min": LIMITS["max_load"][0], "max": LIMITS["max_load"][1],
                                       "step": 1, "inputmode": "numeric", "class": "num"})
    password = PasswordField(_l("Password"), validators=[
        Optional(), Length(min=10, max=200, message=_l("At least 10 characters."))])

    def validate_max_load(self, field):
        if field.data is not None and (problem := number_problem("max_load", field.data)):
            raise ValidationError(problem)
