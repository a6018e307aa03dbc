import html

from app.extensions import db
from app.models import Channel, ChatQueue


def test_supervisor_creates_queue_and_website_channel_with_snippet(app, org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/queues/new", {"name": "VIP", "members": [org.olga.id]})
    assert resp.status_code == 302
    vip = db.session.scalar(db.select(ChatQueue).where(ChatQueue.name == "VIP"))
    assert [u.name for u in vip.members] == ["Olga Operator"]
    resp = admin.post("/settings/channels/new/website", {
        "name": "Shop", "queue": vip.id, "origins": "https://Shop.Example.com/cart\nhttp://localhost:8080",
        "greeting": "Hello!", "color": "#112233", "position": "left"})
    assert resp.status_code == 302
    channel = db.session.scalar(db.select(Channel).where(Channel.name == "Shop"))
    assert channel.setting("allowed_origins") == ["http://localhost:8080", "https://shop.example.com"]
    page = html.unescape(admin.get(resp.location).get_data(as_text=True))
    assert f'data-switchboard-channel="{channel.public_id}"' in page
    assert "/static/widget/widget.js" in page and "data-copy" in page


def test_channel_form_mistakes_shown_in_place(app, org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/channels/new/website", {
        "name": "", "queue": org.support.id, "origins": "not a site at all\nftp://x",
        "greeting": "", "color": "red", "position": "right"})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "This field is required." in page
    assert "Pick a colour like #4F46E5." in page
    assert db.session.scalar(db.select(db.func.count(Channel.id))) == 1  # only the fixture's
    resp = admin.post("/settings/channels/new/website", {
        "name": "X", "queue": org.support.id, "origins": "ftp://files.example",
        "greeting": "", "color": "#112233", "position": "right"})
    assert resp.status_code == 400
    assert "These are not web addresses: ftp://files.example" in resp.get_data(as_text=True)


def test_duplicate_queue_name_refused(app, org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/queues/new", {"name": "support"})
    assert resp.status_code == 400
    assert "already exists" in resp.get_data(as_text=True)


def test_queue_with_channels_cannot_be_deleted(app, org, login):
    admin = login(org.admin)
    resp = admin.post(f"/settings/queues/{org.support.id}/delete")
    assert resp.status_code == 400
    assert db.session.get(ChatQueue, org.support.id) is not None


def test_preview_page_embeds_the_widget(app, org, login):
    admin = login(org.admin)
    page = admin.get(f"/settings/channels/{org.channel.id}/preview").get_data(as_text=True)
    assert f'data-switchboard-channel="{org.channel.public_id}"' in page
