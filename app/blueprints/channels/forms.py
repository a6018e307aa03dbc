import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from ...services.queues import LIMITS, number_problem


def _color(form, field):
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", field.data or ""):
        raise ValidationError(_l("Pick a colour like #4F46E5."))


def _chat_weight(form, field):
    if field.data is not None and (problem := number_problem("chat_weight", field.data)):
        raise ValidationError(problem)


def chat_weight_field():
    # Not sent at all (e.g. a new channel's form, which does not show it): the default.
    return IntegerField(_l("Chat weight"), default=1, validators=[_chat_weight],
                        invalid_value_message=_l("Enter a whole number."),
                        render_kw={"min": LIMITS["chat_weight"][0],
                                   "max": LIMITS["chat_weight"][1], "step": 1,
                                   "inputmode": "numeric", "class": "num"})


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
    chat_weight = chat_weight_field()


class MessengerChannelForm(FlaskForm):
    name = StringField(_l("Channel name"), validators=[DataRequired(), Length(max=120)])
    queue = SelectField(_l("Queue"), coerce=int)
    chat_weight = chat_weight_field()


class BotChannelForm(MessengerChannelForm):
    chat_weight = None  # connecting a bot sets name, queue and token only
    token = PasswordField(_l("Bot token"), validators=[DataRequired(), Length(max=100)],
                          render_kw={"autocomplete": "off", "spellcheck": "false",
                                     })
