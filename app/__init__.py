"""Switchboard: a self-hosted omnichannel chat console."""
import logging

from flask import Flask

from .config import BASE_DIR, Config

MIGRATIONS_DIR = BASE_DIR / "migrations"


def create_app(config=None, *, migrations: bool = False) -> Flask:
    """The application. `migrations=True` adds the `flask db` commands; the web and the
    worker leave them out (Alembic costs each process ~11 MB it never uses)."""
    config = config or Config()
    app = Flask(__name__, instance_path=str(config.INSTANCE_DIR))
    app.config.from_object(config)
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from . import extensions, realtime, web
    from .models.base import render_migration_item
    extensions.init_sqlite()
    extensions.db.init_app(app)
    if migrations:
        from flask_migrate import Migrate
        Migrate(app, extensions.db, directory=str(MIGRATIONS_DIR), render_as_batch=True,
                compare_type=True, render_item=render_migration_item)
    extensions.login_manager.init_app(app)
    extensions.csrf.init_app(app)
    extensions.sock.init_app(app)
    extensions.babel.init_app(app, locale_selector=web.select_locale)
    extensions.limiter.init_app(app)
    realtime.init_app(app)
    web.init_app(app)

    from .blueprints import register_blueprints
    register_blueprints(app)
    return app


def create_cli_app() -> Flask:
    """For `flask --app app:create_cli_app db upgrade|migrate`."""
    return create_app(migrations=True)
