from flask import Blueprint

bp = Blueprint("widget", __name__)

from . import views  # noqa: E402,F401
