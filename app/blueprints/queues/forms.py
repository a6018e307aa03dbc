from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..settings.forms import MultiCheckboxField


class QueueForm(FlaskForm):
    name = StringField(_l("Queue name"), validators=[DataRequired(), Length(max=120)])
    members = MultiCheckboxField(_l("Members"), coerce=int)
