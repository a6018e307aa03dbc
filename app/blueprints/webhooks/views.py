"""Provider webhooks: verify, store, enqueue, answer fast. Parsing lives in the adapters."""
import logging

from flask import jsonify, request

from ...extensions import csrf, db
from ...models import Channel
from ...services import inbound
from ...services.channels import adapter_for
from . import bp

log = logging.getLogger(__name__)

csrf.exempt(bp)  # providers cannot send our CSRF token; each request is verified instead
MAX_BODY = 1024 * 1024


@bp.post("/webhooks/<kind>/<public_id>")
def receive(kind, public_id):
    channel = db.session.scalar(db.select(Channel).where(Channel.public_id == public_id,
                                                         Channel.kind == kind))
    if channel is None or kind == "website":
        log.warning("webhook for unknown channel %s/%s from %s", kind, public_id,
                    request.remote_addr)
        return jsonify(error="unknown channel"), 404
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(error="too large"), 413
    raw = request.get_data(cache=True)
    adapter = adapter_for(channel)
    if not adapter.verify_request(request.headers, raw):
        # Never log the header or the body: they carry secrets or personal data.
        log.warning("webhook for channel %s failed verification (from %s)", channel.id,
                    request.remote_addr)
        return jsonify(error="verification failed"), 401
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        log.warning("webhook for channel %s: body is not a JSON object", channel.id)
        return jsonify(error="expected a JSON object"), 400
    try:
        external_id, sender_ref = adapter.event_key(payload)
    except (KeyError, TypeError, ValueError):
        log.warning("webhook for channel %s: malformed event", channel.id)
        return jsonify(error="malformed event"), 400
    if external_id is None:
        # A provider's handshake or an event we do not keep. An empty body: Viber reads
        # a body answering conversation_started as a welcome message.
        return "", 200
    _event, created = inbound.store_event(channel, external_id, payload, sender_ref)
    if not created:
        log.info("webhook for channel %s: duplicate event %s ignored", channel.id, external_id)
    return jsonify(ok=True)
