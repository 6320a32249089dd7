"""Engine, sessions and schema upgrades for any SQLAlchemy URL (SQLite by default)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigError
from ..paths import MIGRATIONS_DIR


class Database:
    """One database. Example::

        db = Database("sqlite:///campaign.db")
        db.upgrade()
        with db.session() as s:
            s.add(Campaign(name="demo"))
    """

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url[len("sqlite:///"):])
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # personal data: private from the start (SQLite gives its -wal/-shm files the
                # database file's permissions)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self):
        """A transaction: committed on success, rolled back on any error."""
        return transaction(self._sessions())

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to *revision* with Alembic (idempotent)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection_url"] = self.url
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def require_reachable(self) -> None:
        """Connect once; an unreachable server, a refused login or an unopenable file becomes
        one ConfigError naming the fix instead of the driver's traceback.

        Example: ``Database("postgresql://sc@db/sc").require_reachable()``
        """
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
            raise ConfigError(f"cannot reach the database {self.safe_url}: "
                              f"{reason[0] if reason else type(exc).__name__}",
                              fix="check --db or SC_ASTERISK_DB, that the server runs and "
                                  "accepts this user, or that the file's directory exists"
                              ) from None

    def is_empty(self) -> bool:
        """No table at all: a fresh install. Example: ``if db.is_empty(): ...``"""
        return not inspect(self.engine).get_table_names()

    def require_schema(self) -> None:
        """Fail with the fix when the schema was never created."""
        if not inspect(self.engine).has_table("campaign"):
            raise ConfigError(f"database {self.safe_url} has no schema",
                              fix="run: sc-asterisk db upgrade")

    @property
    def safe_url(self) -> str:
        """The URL without its password, fit for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@contextmanager
def transaction(s: Session) -> Iterator[Session]:
    """Run a block in *s*: committed on success, rolled back on any error, closed after.

    Example: ``with transaction(Session(bind=conn)) as s: s.execute(insert(Contact), rows)``
    """
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()
