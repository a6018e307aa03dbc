import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError


def _color(form, field):
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", field.data or ""):
        raise ValidationError(_l("Pick a colour like #4F46E5."))


class WebsiteChannelForm(FlaskForm):
    name = StringField(_l("Channel name"), validators=[DataRequired(), Length(max=120)])
    queue = SelectField(_l("Queue"), coerce=int)
    origins = TextAreaField(_l("Allowed sites"), validators=[DataRequired(), Length(max=4000)],
                            render_kw={"rows": 3, "placeholder": "https://www.example.com"})
    greeting = TextAreaField(_l("Greeting"), validators=[Length(max=500)],
                             render_kw={"rows": 2})
    color = StringField(_l("Colour"), default="#4F46E5", validators=[_color],
                        render_kw={"type": "color"})
    position = SelectField(_l("Position"), choices=[("right", _l("Bottom right")),
                                                    ("left", _l("Bottom left"))])


class MessengerChannelForm(FlaskForm):
    name = StringField(_l("Channel name"), validators=[DataRequired(), Length(max=120)])
    queue = SelectField(_l("Queue"), coerce=int)


class BotChannelForm(MessengerChannelForm):
    token = PasswordField(_l("Bot token"), validators=[DataRequired(), Length(max=100)],
                          render_kw={"autocomplete": "off", "spellcheck": "false",
                                     })
