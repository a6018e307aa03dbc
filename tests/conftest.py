"""Shared fixtures. CSRF stays on in tests: helpers read the token like a browser."""
import os
import re
import tempfile

# Tests never write into the repository's instance/ folder.
os.environ.setdefault("SWITCHBOARD_INSTANCE", tempfile.mkdtemp(prefix="switchboard-tests-"))

import pytest  # noqa: E402

from app import create_app  # noqa: E402
from app.config import TestConfig  # noqa: E402
from app.extensions import db as _db  # noqa: E402

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end tests in Chromium")
    config.addinivalue_line("markers", "integration: real Redis, real worker, real web server")


def reset_database(app):
    with app.app_context():
        _db.drop_all()
        _db.create_all()


@pytest.fixture
def app(tmp_path):
    app = create_app(TestConfig(tmp_path, TEST_DATABASE_URL))
    reset_database(app)

    @app.before_request
    def _fresh_request_state():
        # The test holds one app context for its whole run, so `g` outlives requests;
        # a real server starts every request with a fresh `g`.
        from flask import g
        from flask_babel import refresh
        for name in list(vars(g)):
            g.pop(name)
        refresh()

    with app.app_context():
        yield app
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def hub(app):
    return app.extensions["switchboard_hub"]


class Browser:
    """A test client that behaves like a browser session: keeps cookies and CSRF."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def get(self, url, **kw):
        resp = self.client.get(url, **kw)
        self._remember_token(resp)
        return resp

    def _remember_token(self, resp):
        if resp.mimetype == "text/html":
            m = CSRF_RE.search(resp.get_data(as_text=True))
            if m:
                self.token = m.group(1) or m.group(2)

    def ensure_token(self):
        if self.token is None:
            self.get("/login")
        return self.token

    def post(self, url, data=None, htmx=False, **kw):
        data = dict(data or {})
        headers = kw.pop("headers", {})
        token = self.ensure_token()
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": token})
        else:
            data.setdefault("csrf_token", token)
        resp = self.client.post(url, data=data, headers=headers, **kw)
        self._remember_token(resp)
        return resp

    def login(self, email, password):
        self.token = None
        self.get("/login")
        resp = self.post("/login", {"email": email, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        self.token = None
        self.get("/workspace")
        return resp


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def make_browser(app):
    return lambda: Browser(app.test_client())


ADMIN = {"email": "ada@example.com", "password": "correct horse battery", "name": "Ada Admin"}


@pytest.fixture
def org(app):
    """A set-up installation: admin, two operators in 'Support', one in 'Sales', a
    website channel on Support allowing https://shop.example."""
    from app.models import Channel
    from app.services import queues, users
    admin = users.complete_setup("Acme", ADMIN["name"], ADMIN["email"], ADMIN["password"])
    olga = users.create_user("Olga Operator", "olga@example.com", "olga password 1", "operator", "en", [])
    oleg = users.create_user("Oleg Operator", "oleg@example.com", "oleg password 1", "operator", "ru", [])
    sam = users.create_user("Sam Sales", "sam@example.com", "sam password 12", "operator", "en", [])
    support = queues.save_queue(None, "Support", [olga.id, oleg.id])
    sales = queues.save_queue(None, "Sales", [sam.id])
    channel = Channel(kind="website", name="Main site", queue_id=support.id,
                      settings={"allowed_origins": ["https://shop.example"], "greeting": "Hi",
                                "color": "#4F46E5", "position": "right",
                                "console_url": "http://localhost"})
    _db.session.add(channel)
    _db.session.commit()
    return type("Org", (), {"admin": admin, "olga": olga, "oleg": oleg, "sam": sam,
                            "support": support, "sales": sales, "channel": channel})


PASSWORDS = {"ada@example.com": ADMIN["password"], "olga@example.com": "olga password 1",
             "oleg@example.com": "oleg password 1", "sam@example.com": "sam password 12"}


@pytest.fixture
def login(make_browser):
    def _login(user):
        b = make_browser()
        b.login(user.email, PASSWORDS[user.email])
        return b
    return _login
