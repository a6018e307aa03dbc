"""Blueprint packages: each has __init__ (bp), views and, where it takes input, forms."""


def register_blueprints(app) -> None:
    from . import (auth, board, channels, chats, contacts, files, queues, settings, setup,
                   webhooks, widget, workspace)
    from ..realtime import views as realtime_views
    for module in (setup, auth, settings, queues, channels, workspace, board, chats, contacts,
                   files, widget, webhooks, realtime_views):
        app.register_blueprint(module.bp)
