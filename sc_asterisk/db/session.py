"""Engine, sessions and schema upgrades for any SQLAlchemy URL (SQLite by default)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, create_engine, event, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

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
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_sessions = sessionmaker(self.engine.execution_options(**{WRITER: True}),
                                             expire_on_commit=False)

    def session(self, writer: bool = False):
        """A transaction: committed on success, rolled back on any error.

        *writer*: on SQLite, the transaction takes the write lock at its start (``BEGIN
        IMMEDIATE``), so what it reads no other writer changes before it commits: the
        controller's claims and state changes. Elsewhere it changes nothing (PostgreSQL
        transactions lock the rows they need, ``FOR UPDATE``).
        """
        return transaction((self._writer_sessions if writer else self._sessions)())

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


# The execution option that makes a SQLite transaction BEGIN IMMEDIATE (Database.session).
WRITER = "sc_writer"


def _sqlite_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None        # the PRAGMAs run outside any transaction
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    # A writer (the controller's claims and state changes) takes the write lock at once: what
    # it reads, no other writer changes before it commits. Any other transaction keeps
    # pysqlite's own BEGIN, sent just before its first write: its reads before that hold no
    # snapshot, so its write waits for the lock (busy_timeout) instead of failing at once with
    # "database is locked" because another writer committed since it read (a WAL snapshot
    # cannot be upgraded), which is what a deferred BEGIN at the start would do.
    raw = conn.connection.dbapi_connection
    if conn.get_execution_options().get(WRITER):
        raw.isolation_level = None
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        raw.isolation_level = ""


class db_clock_ms(FunctionElement):
    """The database server's clock, epoch milliseconds, as an SQL expression: every controller
    judges heartbeats on this one clock, never on its own host's.

    Example: ``update(ControllerLease).values(heartbeat_ms=db_clock_ms())``
    """
    type = BigInteger()
    inherit_cache = True


@compiles(db_clock_ms, "sqlite")
def _sqlite_clock(_element, _compiler, **_kw) -> str:
    return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"


@compiles(db_clock_ms, "postgresql")
def _postgresql_clock(_element, _compiler, **_kw) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"


def db_now_ms(s: Session) -> int:
    """The database's clock now, epoch ms.

    Example: ``stale_before = db_now_ms(s) - 10_000``
    """
    return int(s.scalar(select(db_clock_ms())))


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
