"""The supervisor board: queues and operators at a glance, live, with the few actions a
supervisor takes from there (status, reassign, close)."""
from flask import Blueprint

bp = Blueprint("board", __name__)

from . import views  # noqa: E402,F401
