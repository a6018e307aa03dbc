"""End-to-end fixtures: a real stack (tests/stack.py), a customer's site on another origin
served by a tiny local HTTP server, and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import pytest

from integration.conftest import PASSWORD
from stack import ROOT, running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
TIMEOUT_MS = 15_000


def _backend() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or "sqlite"
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        # Not a skip: the end-to-end tests are part of the suite, never silently absent.
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class HostSite:
    """The customer's website: static files on its own port. `origin` uses the host name
    localhost, so it is another site than the console (127.0.0.1), not only another port."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = f"http://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="host-site",
                                       daemon=True)
        self.thread.start()

    def page(self, name: str, html: str) -> str:
        (self.root / name).write_text(html, encoding="utf-8")
        return f"{self.origin}/{name}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def host_site(tmp_path):
    site = HostSite(tmp_path / "site")
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def stack(tmp_path, host_site):
    with running_stack(tmp_path / "stack", origins=(host_site.origin,)) as s:
        yield s


class Person:
    """One person (operator, admin, visitor) in their own browser context."""

    def __init__(self, browser, name: str, viewport=(1280, 800), **ctx):
        self.name = name
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, locale="en-US", **ctx)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.page.on("console", lambda m: m.type == "error" and
                     self.console_errors.append(m.text))
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            self.context.close()


class Artifacts:
    """Screenshots of the key moments, under test-artifacts/e2e/<backend>/<test>/."""

    def __init__(self, test_name: str):
        self.dir = ARTIFACTS / _backend() / re.sub(r"[^\w.-]+", "_", test_name)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.count = 0

    def shot(self, page, name: str, **kw) -> Path:
        self.count += 1
        path = self.dir / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), animations="disabled", **kw)
        return path


@pytest.fixture
def artifacts(request):
    return Artifacts(request.node.name)


@pytest.fixture
def people(request, chromium, artifacts):
    """people(name, **context options) -> Person. On failure every page still open is
    photographed; JavaScript errors are printed; all contexts are closed."""
    crowd: list[Person] = []

    def _new(name, **kw):
        person = Person(chromium, name, **kw)
        crowd.append(person)
        return person

    yield _new
    report = getattr(request.node, "rep_call", None)
    for person in crowd:
        if report is not None and report.failed and not person.closed:
            try:
                person.page.screenshot(path=str(artifacts.dir / f"failure-{person.name}.png"),
                                       full_page=True)
            except Exception as exc:  # noqa: BLE001 - the page may have crashed
                print(f"no failure screenshot of {person.name}: {exc}")
        for kind, items in (("page errors", person.page_errors),
                            ("console errors", person.console_errors)):
            if items:
                print(f"{kind} in {person.name}'s page:\n  " + "\n  ".join(items))
        person.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


__all__ = ["PASSWORD", "TIMEOUT_MS", "Person"]
