from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, FieldList, Form, FormField, IntegerField,
                     RadioField, SelectField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ...services import hours as hours_service
from ...services import queues as queue_service
from ..settings.forms import MultiCheckboxField

WEEKDAYS = range(7)
DEFAULT_OPENS, DEFAULT_CLOSES = "09:00", "18:00"
# A time input cannot show 24:00: "00:00" as a closing time means midnight.
MIDNIGHT_INPUT = "00:00"


def mode_choices():
    return [("manual", _l("Manual")), ("round_robin", _l("Round robin")),
            ("least_loaded", _l("Least loaded"))]


def _in_limits(form, field):
    if field.data is not None:
        message = queue_service.number_problem(field.name, field.data)
        if message:
            raise ValidationError(message)


def _number(label, limit, *, optional=False):
    # A required number sent empty fails to parse ("Enter a whole number."); one not sent
    # at all keeps the queue's current value, like any field a client leaves out.
    validators = [Optional()] if optional else []
    low, high = queue_service.LIMITS[limit]
    return IntegerField(label, validators=validators + [_in_limits],
                        default=getattr(queue_service.QueueSettings(), limit),
                        invalid_value_message=_l("Enter a whole number."),
                        render_kw={"type": "number", "min": low, "max": high, "step": 1,
                                   "inputmode": "numeric", "class": "num"})


class HolidayForm(Form):
    """One holiday row; a row left completely empty is ignored."""

    name = StringField(_l("Name"), validators=[Length(max=120)],
                       render_kw={"placeholder": _l("e.g. New Year")})
    starts_on = DateField(_l("First day"), validators=[Optional()],
                          invalid_value_message=_l("Enter a date like 2025-12-31."))
    ends_on = DateField(_l("Last day"), validators=[Optional()],
                        invalid_value_message=_l("Enter a date like 2025-12-31."))

    def is_blank(self) -> bool:
        typed = [(self.name.data or "").strip()]
        for date_field in (self.starts_on, self.ends_on):
            typed.append(date_field.data or (date_field.raw_data or [""])[0].strip())
        return not any(typed)

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if not self.is_blank() and self.starts_on.data is None and not self.starts_on.errors:
            self.starts_on.errors.append(_l("Enter the first day."))
            valid = False
        return valid


class QueueForm(FlaskForm):
    name = StringField(_l("Queue name"), validators=[DataRequired(), Length(max=120)])
    members = MultiCheckboxField(_l("Members"), coerce=int)

    # Distribution
    routing_mode = RadioField(_l("Distribution"), choices=mode_choices, default="manual")
    offer_timeout_seconds = _number(_l("Offer timeout, seconds"), "offer_timeout_seconds")

    # Timers
    answer_timeout_minutes = _number(_l("Answer timeout, minutes"), "answer_timeout_minutes",
                                     optional=True)
    # Choices exclude the queue itself; validate_choice is off so that a forged or stale
    # value gets the service's clear refusal instead of "Not a valid choice".
    fallback_queue_id = SelectField(_l("Fallback queue"), coerce=int, validate_choice=False)
    disconnect_minutes = _number(_l("Closed-tab timeout, minutes"), "disconnect_minutes")
    inactivity_close_minutes = _number(_l("Close inactive chats after, minutes"),
                                       "inactivity_close_minutes", optional=True)
    closing_message = TextAreaField(_l("Closing message"), validators=[
        Length(max=queue_service.MESSAGE_MAX, message=_l("At most %(max)s characters."))],
        render_kw={"rows": 2})

    # Working hours
    hours_enabled = BooleanField(_l("Use working hours"))
    timezone = StringField(_l("Time zone"), default="UTC",
                           validators=[DataRequired(message=_l("Pick a time zone."))],
                           render_kw={"list": "timezones", "autocomplete": "off",
                                      "spellcheck": "false"})
    holidays = FieldList(FormField(HolidayForm), min_entries=0)

    # Away message
    offline_message = TextAreaField(_l("Away auto-reply"), validators=[
        Length(max=queue_service.MESSAGE_MAX, message=_l("At most %(max)s characters."))],
        render_kw={"rows": 3})
    ask_email_offline = BooleanField(_l("Ask for an e-mail when the team is away"))

    def __init__(self, *args, queue=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue = queue
        # Problems about a whole section rather than one input ("overlapping holidays").
        self.section_errors = {"hours": [], "holidays": []}
        self.extra_intervals = {}
        if not self.is_submitted():
            self._load_days(queue)

    # -- weekly schedule: one row per weekday -------------------------------------------
    def day(self, weekday: int):
        return (self[f"day{weekday}_open"], self[f"day{weekday}_opens"],
                self[f"day{weekday}_closes"])

    def _load_days(self, queue):
        stored = (queue.hours or {}) if queue is not None else {}
        for weekday in WEEKDAYS:
            is_open, opens, closes = self.day(weekday)
            intervals = stored.get(str(weekday)) or []
            if intervals:
                is_open.data = True
                opens.data = intervals[0][0]
                closes.data = MIDNIGHT_INPUT if intervals[0][1] == hours_service.END_OF_DAY \
                    else intervals[0][1]
                if len(intervals) > 1:
                    self.extra_intervals[weekday] = intervals[1:]
            else:
                # A sensible start for a new schedule: Monday to Friday, 9 to 6.
                is_open.data = not stored and weekday < 5
                opens.data, closes.data = DEFAULT_OPENS, DEFAULT_CLOSES

    def hours_data(self) -> dict:
        result = {}
        for weekday in WEEKDAYS:
            is_open, opens, closes = self.day(weekday)
            if is_open.data:
                close = (closes.data or "").strip()
                if close == MIDNIGHT_INPUT:
                    close = hours_service.END_OF_DAY
                result[str(weekday)] = [[(opens.data or "").strip(), close]]
        return result

    def holiday_rows(self) -> list:
        rows = []
        for entry in self.holidays:
            sub = entry.form
            if sub.is_blank() or sub.starts_on.errors or sub.ends_on.errors:
                continue
            start = sub.starts_on.data
            rows.append((start, sub.ends_on.data or start, (sub.name.data or "").strip()))
        return rows

    def member_ids(self) -> list[int]:
        return list(self.members.data or [])

    def to_settings(self) -> queue_service.QueueSettings:
        return queue_service.QueueSettings(
            routing_mode=self.routing_mode.data,
            offer_timeout_seconds=self.offer_timeout_seconds.data,
            answer_timeout_minutes=self.answer_timeout_minutes.data,
            fallback_queue_id=self.fallback_queue_id.data or None,
            disconnect_minutes=self.disconnect_minutes.data,
            inactivity_close_minutes=self.inactivity_close_minutes.data,
            closing_message=self.closing_message.data or "",
            hours_enabled=bool(self.hours_enabled.data),
            timezone=(self.timezone.data or "").strip(),
            hours=self.hours_data(),
            holidays=self.holiday_rows(),
            offline_message=self.offline_message.data or "",
            ask_email_offline=bool(self.ask_email_offline.data))

    # -- validation -----------------------------------------------------------------------
    def validate(self, extra_validators=None):
        super().validate(extra_validators)
        for weekday in WEEKDAYS:
            is_open, opens, closes = self.day(weekday)
            if is_open.data:
                closes.errors.extend(hours_service.validate_hours(
                    {str(weekday): self.hours_data()[str(weekday)]}))
        self.apply_problems(queue_service.settings_problems(
            self.to_settings(), queue_id=self.queue.id if self.queue else None,
            member_ids=self.member_ids()))
        return not self.errors

    def apply_problems(self, problems: dict) -> None:
        """Show the service's refusals next to their fields (once per field)."""
        for name, messages in problems.items():
            if name in self.section_errors:
                day_errors = name == "hours" and any(self.day(d)[2].errors for d in WEEKDAYS)
                row_errors = name == "holidays" and any(
                    e.form.starts_on.errors or e.form.ends_on.errors for e in self.holidays)
                if not (day_errors or row_errors):
                    self.section_errors[name].extend(messages)
                continue
            field = getattr(self, name, None)
            if field is None:
                self.form_errors.extend(messages)
            elif not field.errors:
                field.errors = list(field.errors) + list(messages)

    @property
    def errors(self):
        errors = super().errors
        for name, messages in self.section_errors.items():
            if messages:
                errors[f"{name}_section"] = messages
        return errors


for _weekday in WEEKDAYS:
    setattr(QueueForm, f"day{_weekday}_open", BooleanField(_l("Open")))
    setattr(QueueForm, f"day{_weekday}_opens",
            StringField(_l("Opens"), render_kw={"type": "time", "class": "time"}))
    setattr(QueueForm, f"day{_weekday}_closes",
            StringField(_l("Closes"), render_kw={"type": "time", "class": "time"}))
del _weekday
