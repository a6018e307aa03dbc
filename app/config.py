"""Configuration. Environment variables are read here and nowhere else."""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("SWITCHBOARD_INSTANCE", BASE_DIR / "instance"))


def ensure_instance(instance_dir: Path = INSTANCE_DIR) -> str:
    """Create the instance folder and the secret key file on first run; return the key.

    The key is written once with O_EXCL so a web process and a worker starting together
    agree on one key; it never lives in the repository.
    """
    instance_dir.mkdir(parents=True, exist_ok=True)
    (instance_dir / "uploads").mkdir(exist_ok=True)
    key_file = instance_dir / "secret_key"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _database_url(instance_dir: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{instance_dir / 'switchboard.db'}"
    # Accept the common postgres:// and postgresql:// spellings; we ship psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _limits_url(redis_url: str) -> str:
    # The `limits` library spells unix sockets differently from redis-py.
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


class Config:
    def __init__(self):
        self.INSTANCE_DIR = INSTANCE_DIR
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or ensure_instance(INSTANCE_DIR)
        self.SQLALCHEMY_DATABASE_URI = _database_url(INSTANCE_DIR)
        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
        self.MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_MB", "10")) * 1024 * 1024
        # Slack for multipart overhead; the real per-file check is in the storage service.
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_BYTES + 1024 * 1024
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "") == "1"
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead of a clock
        self.LANGUAGES = ("en", "ru")
        self.BABEL_DEFAULT_LOCALE = "en"
        self.RATELIMIT_STORAGE_URI = _limits_url(self.REDIS_URL)
        # Two fewer Redis round trips per widget request; clients get a 429 either way.
        self.RATELIMIT_HEADERS_ENABLED = False
        # A Redis outage must not turn customer messages away: limits fall back to memory.
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
        self.WIDGET_RATE_LIMIT = os.environ.get("WIDGET_RATE_LIMIT", "120 per minute")
        # Inline jobs run in the web process (unit tests); otherwise RQ.
        self.JOBS_INLINE = False
        self.REALTIME_BACKEND = "redis"
        # Provider API base URLs: configurable so tests run against local fakes.
        self.TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org")
        self.VIBER_API_URL = os.environ.get("VIBER_API_URL", "https://chatapi.viber.com/pa")
        # The address customers reach this console at (embed snippets, widget file links).
        self.PUBLIC_URL = os.environ.get("PUBLIC_URL", "").rstrip("/")
        # Behind nginx/Caddy terminating TLS: how many proxies set X-Forwarded-* (0 = none;
        # never more than there really are, or clients could spoof their address).
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0") or 0)
        self.SWEEP_AFTER_SECONDS = float(os.environ.get("SWEEP_AFTER_SECONDS", "30"))


class TestConfig(Config):
    """Unit tests: in-memory hub, inline jobs, a private instance folder."""

    def __init__(self, instance_dir: Path, database_url: str | None = None):
        super().__init__()
        self.TESTING = True
        self.INSTANCE_DIR = instance_dir
        self.SECRET_KEY = "test-secret"
        self.SQLALCHEMY_DATABASE_URI = database_url or f"sqlite:///{instance_dir / 'test.db'}"
        self.UPLOAD_DIR = str(instance_dir / "uploads")
        self.JOBS_INLINE = True
        self.REALTIME_BACKEND = "memory"
        self.RATELIMIT_STORAGE_URI = "memory://"
        # Never the real providers: a closed local port unless a test starts a fake.
        self.TELEGRAM_API_URL = "http://127.0.0.1:9"
        self.VIBER_API_URL = "http://127.0.0.1:9/pa"
