from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from ..forms_common import LANGUAGE_CHOICES


class SetupForm(FlaskForm):
    organization = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=120)])
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(), Length(min=10, max=200, message=_l("At least 10 characters."))])
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(), EqualTo("password", message=_l("The passwords do not match."))])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
