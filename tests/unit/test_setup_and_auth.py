from app.extensions import db
from app.models import Organization, User


def test_first_visit_opens_setup_wizard(browser):
    resp = browser.get("/")
    assert resp.status_code == 302 and resp.location.endswith("/setup")
    assert b"Welcome to Switchboard" in browser.get("/setup").data


def test_setup_shows_mistakes_in_place_and_creates_nothing(browser):
    browser.get("/setup")
    resp = browser.post("/setup", {"organization": "Acme", "name": "Ada", "email": "not-an-email",
                                   "password": "short", "confirm": "other", "language": "en"})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "At least 10 characters." in page
    assert "The passwords do not match." in page
    assert 'value="Acme"' in page  # what was typed is kept
    assert db.session.scalar(db.select(db.func.count(Organization.id))) == 0
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_setup_creates_admin_and_disappears(browser):
    browser.get("/setup")
    resp = browser.post("/setup", {"organization": "Acme", "name": "Ada", "language": "en",
                                   "email": "ada@example.com", "password": "a long password",
                                   "confirm": "a long password"})
    assert resp.status_code == 302
    admin = db.session.scalar(db.select(User))
    assert admin.role == "admin" and admin.email == "ada@example.com"
    assert browser.get("/workspace").status_code == 200  # logged in
    assert browser.get("/setup").status_code == 404
    assert browser.post("/setup", {"organization": "Evil", "name": "x", "email": "e@x.io",
                                   "password": "a long password", "confirm": "a long password",
                                   "language": "en"}).status_code == 404
    assert db.session.scalar(db.select(db.func.count(Organization.id))) == 1


def test_login_logout_and_wrong_password(org, browser):
    browser.get("/login")
    resp = browser.post("/login", {"email": "olga@example.com", "password": "wrong"})
    assert resp.status_code == 400
    assert "The e-mail or password is wrong." in resp.get_data(as_text=True)
    browser.login("olga@example.com", "olga password 1")
    assert browser.get("/workspace").status_code == 200
    assert browser.post("/logout").status_code == 302
    assert browser.get("/workspace").status_code == 302


def test_deactivated_user_cannot_log_in(org, browser):
    from app.services import users
    users.set_enabled(org.olga, False, org.admin)
    browser.get("/login")
    resp = browser.post("/login", {"email": "olga@example.com", "password": "olga password 1"})
    assert resp.status_code == 400
    assert "deactivated" in resp.get_data(as_text=True)


def test_login_attempts_are_rate_limited(org, browser):
    browser.get("/login")
    codes = [browser.post("/login", {"email": "olga@example.com", "password": f"bad{i}"}).status_code
             for i in range(12)]
    assert codes[:10] == [400] * 10
    assert codes[10] == 429
    resp = browser.post("/login", {"email": "olga@example.com", "password": "olga password 1"})
    assert resp.status_code == 429
    assert "Too many attempts" in resp.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(org, browser):
    browser.login("olga@example.com", "olga password 1")
    resp = browser.client.post("/workspace/presence", data={"presence": "active"},
                               headers={"HX-Request": "true"})
    assert resp.status_code == 400
    assert "session has expired" in resp.get_data(as_text=True)
    assert org.olga.presence == "offline"


def test_forged_csrf_token_is_refused(org, browser):
    browser.login("olga@example.com", "olga password 1")
    resp = browser.client.post("/workspace/presence", data={"presence": "active"},
                               headers={"HX-Request": "true", "X-CSRFToken": "forged"})
    assert resp.status_code == 400


def test_admin_creates_and_deactivates_user(org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/users/new", {"name": "Nina", "email": "nina@example.com",
                                              "role": "operator", "language": "ru",
                                              "queues": [org.support.id],
                                              "password": "nina password"})
    assert resp.status_code == 302
    nina = db.session.scalar(db.select(User).where(User.email == "nina@example.com"))
    assert [q.name for q in nina.queues] == ["Support"]
    resp = admin.post(f"/settings/users/{nina.id}/enabled", {"enabled": "0"})
    assert resp.status_code == 302
    db.session.refresh(nina)
    assert not nina.is_enabled


def test_duplicate_user_email_is_shown_in_place(org, login):
    admin = login(org.admin)
    resp = admin.post("/settings/users/new", {"name": "Olga 2", "email": "OLGA@example.com",
                                              "role": "operator", "language": "en",
                                              "password": "another password"})
    assert resp.status_code == 400
    assert "already exists" in resp.get_data(as_text=True)


def test_operator_cannot_open_admin_pages(org, login):
    olga = login(org.olga)
    for url in ("/settings/users", "/settings/queues", "/settings/channels"):
        resp = olga.get(url)
        assert resp.status_code == 403, url
        assert "You do not have access" in resp.get_data(as_text=True)


def test_russian_interface_for_russian_user(org, login):
    oleg = login(org.oleg)
    page = oleg.get("/workspace").get_data(as_text=True)
    assert "Рабочее место" in page or "Ожидают" in page


def test_unknown_page_is_a_readable_404(org, login):
    olga = login(org.olga)
    resp = olga.get("/no/such/page")
    assert resp.status_code == 404
    assert "This page does not exist." in resp.get_data(as_text=True)


def test_language_switch_before_login(browser):
    resp = browser.get("/language/ru?next=/setup")
    assert resp.status_code == 302 and resp.location.endswith("/setup")
    page = browser.get("/setup").get_data(as_text=True)
    assert '<html lang="ru">' in page
    assert browser.get("/language/xx").status_code == 404


def test_deactivation_ends_open_sessions(org, login):
    from app.services import users
    olga = login(org.olga)
    assert olga.get("/workspace").status_code == 200
    users.set_enabled(org.olga, False, org.admin)
    assert olga.get("/workspace").status_code == 302
