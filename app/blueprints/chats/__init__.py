from flask import Blueprint

bp = Blueprint("chats", __name__)

from . import views  # noqa: E402,F401
