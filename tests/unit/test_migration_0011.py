"""Migration 0011 (web users, API tokens, browser sessions) goes down and up on SQLite and
PostgreSQL."""
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from sc_asterisk.db import Database
from sc_asterisk.paths import MIGRATIONS_DIR

TABLES = {"web_user", "api_token", "web_session"}


def down_and_up(db: Database) -> None:
    assert TABLES <= set(inspect(db.engine).get_table_names())
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010_nat_tls")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.upgrade()
    assert TABLES <= set(inspect(db.engine).get_table_names())


def test_migration_0011_goes_down_and_up_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    down_and_up(db)


@pytest.mark.postgres
def test_migration_0011_goes_down_and_up_on_postgresql():
    from test_node_models import postgres_database
    with postgres_database() as url:
        db = Database(url)
        try:
            db.upgrade()
            down_and_up(db)
        finally:
            db.engine.dispose()
