from flask import Blueprint

bp = Blueprint("queues", __name__)

from . import views  # noqa: E402,F401
