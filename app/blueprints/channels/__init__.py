from flask import Blueprint

bp = Blueprint("channels", __name__)

from . import views  # noqa: E402,F401
