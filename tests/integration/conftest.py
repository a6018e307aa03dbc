import pytest

from stack import Operator, Stack, running_stack

PASSWORD = "integration password"


def seed(stack: Stack, origins=("https://shop.example",)) -> dict:
    """Admin, two operators in Support, one in Sales, a website channel on Support."""
    from app.extensions import db
    from app.models import Channel
    from app.services import queues, users
    app = stack.app()
    with app.app_context():
        users.complete_setup("Acme", "Ada Admin", "ada@example.com", PASSWORD)
        olga = users.create_user("Olga Operator", "olga@example.com", PASSWORD, "operator", "en", [])
        oleg = users.create_user("Oleg Operator", "oleg@example.com", PASSWORD, "operator", "en", [])
        sam = users.create_user("Sam Sales", "sam@example.com", PASSWORD, "operator", "en", [])
        support = queues.save_queue(None, "Support", [olga.id, oleg.id])
        queues.save_queue(None, "Sales", [sam.id])
        channel = Channel(kind="website", name="Main site", queue_id=support.id,
                          settings={"allowed_origins": list(origins), "greeting": "Hi!",
                                    "color": "#4F46E5", "position": "right",
                                    "console_url": stack.base_url})
        db.session.add(channel)
        db.session.commit()
        info = {"channel_public_id": channel.public_id, "channel_id": channel.id,
                "support_id": support.id}
        db.session.remove()
        db.engine.dispose()
    return info


@pytest.fixture
def stack(tmp_path):
    with running_stack(tmp_path) as s:
        yield s


@pytest.fixture
def operator(stack):
    def _login(email):
        return Operator(stack, email, PASSWORD)
    return _login
