"""Bulk reads and writes of a contact import, through the database driver, and the connection
they run on. At a million rows SQLAlchemy's per-row work cost more than the database's own.
"""
from __future__ import annotations

from contextlib import contextmanager
from itertools import chain
from typing import Callable, Iterator

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db import Database
from ..db.session import transaction

_IN_CHUNK = 500  # values per IN (...): well under every backend's parameter limit
# Rows per multi-row INSERT ... RETURNING: within SQLite's and PostgreSQL's parameter limits.
_VALUES_ROWS = 500
# SQLite page cache while importing, in KiB (the default is 2 MiB): the unique index on contact
# numbers takes inserts all over its pages, and with a small cache each insert read its page
# again (a fifth of the time spent inserting contacts, at a million). Memory only: what a
# commit guarantees is unchanged.
_SQLITE_CACHE_KIB = 65536


@contextmanager
def import_connection(db: Database) -> Iterator[Connection]:
    """One connection for a whole import (each chunk still commits on its own), with a larger
    SQLite page cache meanwhile, set back afterwards.

    Example::

        with import_connection(db) as conn, session_on(conn) as s:
            s.execute(...)
    """
    with db.engine.connect() as conn:
        before = None
        if conn.dialect.name == "sqlite":
            before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
            conn.commit()  # sessions on this connection must start their own transactions
        try:
            yield conn
        finally:
            if before is not None:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")
                conn.commit()


@contextmanager
def session_on(conn: Connection) -> Iterator[Session]:
    """A transaction on *conn*, as ``Database.session()``: committed on success, rolled back
    on any error.

    Example: ``with session_on(conn) as s: s.execute(insert(Contact), rows)``
    """
    with transaction(Session(bind=conn, expire_on_commit=False)) as s:
        yield s


def select_in(s: Session, query, column, values: list) -> list:
    """The rows of *query* whose *column* is among *values* (one query per 500), as mappings.

    Example: ``select_in(s, select(Contact.id), Contact.e164, ["+33612345678"])``
    """
    found = []
    for i in range(0, len(values), _IN_CHUNK):
        found.extend(s.execute(query.where(column.in_(values[i:i + _IN_CHUNK]))).mappings())
    return found


def known_numbers(s: Session, numbers: list[str]) -> list[str]:
    """The numbers among *numbers* that already have a contact, probed through the driver:
    a first import finds none, and then skips SQLAlchemy's typed lookup of full rows.

    Example: ``known_numbers(s, ["+33612345678"]) == []`` on an empty base
    """
    cursor = s.connection().connection.dbapi_connection.cursor()
    mark = "?" if s.get_bind().dialect.paramstyle == "qmark" else "%s"
    found: list[str] = []
    try:
        for i in range(0, len(numbers), _IN_CHUNK):
            part = numbers[i:i + _IN_CHUNK]
            marks = ", ".join([mark] * len(part))
            cursor.execute(f"SELECT e164 FROM contact WHERE e164 IN ({marks})", part)
            found.extend(e164 for (e164,) in cursor.fetchall())
    finally:
        cursor.close()
    return found


def insert_rows(s: Session, table, names: tuple[str, ...], rows: list[tuple],
                returning: tuple[str, ...] = ()) -> list[tuple]:
    """INSERT *rows* (tuples of the *names* columns' values) through the driver, and return the
    *returning* columns of the new rows (in no particular order).

    At a million rows SQLAlchemy's per-row parameter handling cost more than the database's
    own work: here each value goes through its column type's bind processor (dates, JSON) and
    nothing else, once per distinct value of a column.

    Example: ``insert_rows(s, Contact.__table__, ("e164",), [("+33612345678",)], ("id",))``
    """
    conn = s.connection()
    dialect = conn.dialect
    convert = []
    for i, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            convert.append((i, process))
    params: list = rows
    if convert:
        columns = list(zip(*rows))
        for i, process in convert:
            columns[i] = _processed(columns[i], process)
        params = list(zip(*columns))
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    one = f"({', '.join([mark] * len(names))})"
    # The DBAPI cursor of the session's connection (same transaction): SQLAlchemy would wrap
    # each returned row in a Row object.
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if not returning:
            cursor.executemany(head + one, params)
            return []
        tail = f" RETURNING {', '.join(returning)}"
        found: list[tuple] = []
        for start in range(0, len(params), _VALUES_ROWS):
            part = params[start:start + _VALUES_ROWS]
            cursor.execute(head + ", ".join([one] * len(part)) + tail,
                           tuple(chain.from_iterable(part)))
            found.extend(cursor.fetchall())
        return found
    finally:
        cursor.close()


def _processed(values: tuple, process: Callable) -> list:
    """*process* (a bind processor) applied to each of *values*, once per distinct object: the
    import time, the empty attributes and each birth date are shared by many rows. (By identity,
    not equality: equal aware times at different offsets may be stored differently.)"""
    ids = list(map(id, values))
    distinct = dict(zip(ids, values))
    if len(distinct) == 1:  # one object in every row: the import time, no consent date...
        value = values[0]
        return [None if value is None else process(value)] * len(values)
    done = {key: None if value is None else process(value) for key, value in distinct.items()}
    return list(map(done.__getitem__, ids))
