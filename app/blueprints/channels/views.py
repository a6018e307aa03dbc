from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...channels import REGISTRY
from ...extensions import db
from ...models import Channel, ChatQueue
from ...services import channels, health
from ...services.errors import ServiceError
from ..forms_common import EmptyForm
from . import bp
from .forms import BotChannelForm, MessengerChannelForm, WebsiteChannelForm

BOT_KINDS = ("telegram", "viber")


@bp.before_request
@login_required
def _only_configurers():
    if not current_user.can_configure:
        abort(403)


def _queue_choices(form):
    form.queue.choices = [(q.id, q.name) for q in db.session.scalars(
        db.select(ChatQueue).order_by(ChatQueue.name))]


@bp.get("/settings/channels")
def index():
    rows = list(db.session.scalars(db.select(Channel).order_by(Channel.name)))
    has_queues = db.session.scalar(db.select(ChatQueue.id).limit(1)) is not None
    return render_template("channels/index.html", channels=rows, kinds=REGISTRY,
                           has_queues=has_queues, health_status=health.status)


def _console_url() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def _snippet(channel: Channel) -> str:
    base = _console_url()
    src = f"{base}{url_for('static', filename='widget/widget.js')}"
    return (f'<script src="{src}" data-switchboard-channel="{channel.public_id}" async>'
            f'</script>')


@bp.route("/settings/channels/<int:channel_id>", methods=["GET", "POST"])
def page(channel_id):
    channel = db.session.get(Channel, channel_id) or abort(404)
    if channel.kind == "website":
        return website(channel)
    return messenger(channel)


@bp.route("/settings/channels/new/website", methods=["GET", "POST"])
def new_website():
    return website(None)


def website(channel):
    form = WebsiteChannelForm()
    _queue_choices(form)
    if not form.queue.choices:
        flash(_("Create a queue first: every channel sends its chats to a queue."), "info")
        return redirect(url_for("queues.edit"))
    if request.method == "GET" and channel is not None:
        form.name.data = channel.name
        form.queue.data = channel.queue_id
        form.origins.data = "\n".join(channel.setting("allowed_origins", []))
        form.greeting.data = channel.setting("greeting", "")
        form.color.data = channel.setting("color", "#4F46E5")
        form.position.data = channel.setting("position", "right")
        form.chat_weight.data = channel.chat_weight
    elif request.method == "GET":
        form.greeting.data = _("Hi! How can we help you?")
    if form.validate_on_submit():
        queue = db.session.get(ChatQueue, form.queue.data)
        try:
            origins = channels.parse_origins(form.origins.data)
        except ServiceError as exc:
            form.origins.errors.append(exc.message)
        else:
            created = channel is None
            # A new channel starts at weight 1 (its form does not show the field).
            if not created and form.chat_weight.raw_data:
                channel.chat_weight = form.chat_weight.data  # committed by the service
            channel = channels.save_website_channel(
                channel, name=form.name.data, queue=queue, origins=origins,
                greeting=form.greeting.data or "", color=form.color.data,
                position=form.position.data, console_url=_console_url())
            flash(_("Channel created. Put the code below on your site.") if created
                  else _("Saved."), "success")
            return redirect(url_for("channels.page", channel_id=channel.id))
    return render_template("channels/website.html", form=form, channel=channel,
                           snippet=_snippet(channel) if channel else None,
                           toggle_form=EmptyForm()), 400 if form.errors else 200


@bp.get("/settings/channels/<int:channel_id>/preview")
def preview(channel_id):
    channel = db.session.get(Channel, channel_id) or abort(404)
    return render_template("channels/preview.html", channel=channel, snippet=_snippet(channel))


@bp.post("/settings/channels/<int:channel_id>/enabled")
def enabled(channel_id):
    channel = db.session.get(Channel, channel_id) or abort(404)
    if EmptyForm().validate_on_submit():
        channels.set_enabled(channel, request.form.get("enabled") == "1")
        flash(_("Channel enabled.") if channel.is_enabled else _("Channel disabled: it accepts no new messages."), "success")
    return redirect(url_for("channels.page", channel_id=channel.id))


@bp.route("/settings/channels/new/<kind>", methods=["GET", "POST"])
def new_bot(kind):
    if kind not in BOT_KINDS or kind not in REGISTRY:
        abort(404)
    form = BotChannelForm()
    _queue_choices(form)
    if not form.queue.choices:
        flash(_("Create a queue first: every channel sends its chats to a queue."), "info")
        return redirect(url_for("queues.edit"))
    if form.validate_on_submit():
        queue = db.session.get(ChatQueue, form.queue.data)
        try:
            channel = channels.connect_bot(kind, name=form.name.data, queue=queue,
                                           token=form.token.data, base_url=_console_url())
        except ServiceError as exc:
            form.token.errors.append(exc.message)
        else:
            flash(_("The bot @%(bot)s is connected. Messages to it now arrive in “%(queue)s”.",
                    bot=channel.setting("bot_username"), queue=queue.name), "success")
            return redirect(url_for("channels.page", channel_id=channel.id))
    return render_template("channels/new_bot.html", form=form, kind=kind,
                           label=REGISTRY[kind].label), 400 if form.errors else 200


def messenger(channel):
    form = MessengerChannelForm(obj=channel)
    _queue_choices(form)
    if request.method == "GET":
        form.queue.data = channel.queue_id
    if form.validate_on_submit():
        channel.chat_weight = form.chat_weight.data  # committed by the service
        channels.rename_channel(channel, form.name.data, db.session.get(ChatQueue, form.queue.data))
        flash(_("Saved."), "success")
        return redirect(url_for("channels.page", channel_id=channel.id))
    return render_template("channels/messenger.html", form=form, channel=channel,
                           summary=health.delivery_summary(channel),
                           webhook_url=channels.webhook_url(channel, _console_url()),
                           toggle_form=EmptyForm(), action_form=EmptyForm()), \
        400 if form.errors else 200


@bp.post("/settings/channels/<int:channel_id>/webhook")
def webhook(channel_id):
    """Register the webhook again ("actualize") and show the provider's answer."""
    channel = db.session.get(Channel, channel_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        info = channels.reregister_webhook(channel, _console_url())
    except ServiceError as exc:
        return render_template("channels/_provider_error.html", message=exc.message), 200, \
            {"HX-Retarget": "#modal", "HX-Reswap": "innerHTML"}
    if request.form.get("then") == "health":
        health.check_channel(channel)
        return _health_fragment(channel)
    return render_template("channels/_webhook_status.html", channel=channel, info=info)


@bp.post("/settings/channels/<int:channel_id>/health")
def health_check(channel_id):
    channel = db.session.get(Channel, channel_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    health.check_channel(channel)
    return _health_fragment(channel)


def _health_fragment(channel):
    return render_template("channels/_health.html", channel=channel,
                           summary=health.delivery_summary(channel))
