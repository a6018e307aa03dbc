"""Form pieces shared by several blueprints."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

LANGUAGE_CHOICES = [("en", "English"), ("ru", "Русский")]


def role_choices():
    return [("operator", _l("Operator")), ("supervisor", _l("Supervisor")), ("admin", _l("Admin"))]


class EmptyForm(FlaskForm):
    """For buttons that only POST: CSRF and nothing else."""


class LanguageMixin:
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="en")
