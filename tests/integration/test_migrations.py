"""The migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""
import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from stack import Stack

pytestmark = pytest.mark.integration


def test_migrations_match_the_models(tmp_path):
    import app.models  # noqa: F401 - registers every table on db.metadata
    stack = Stack(tmp_path, os.environ.get("TEST_DATABASE_URL"))
    stack.migrate()
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ (run make migration): {diff}"
