"""Bulk reads and writes of a contact import, through the database driver, and the connection
they run on. At a million rows SQLAlchemy's per-row work cost more than the database's own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..db import Database
from ..db.session import transaction

_IN_CHUNK = 500  # values per IN (...): well under every backend's parameter limit
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
        if s.get_bind().dialect.name == "postgresql" and numbers:  # one array, one query
            cursor.execute("SELECT e164 FROM contact WHERE e164 = ANY(%s)", (numbers,))
            return [e164 for (e164,) in cursor.fetchall()]
        for i in range(0, len(numbers), _IN_CHUNK):
            part = numbers[i:i + _IN_CHUNK]
            marks = ", ".join([mark] * len(part))
            cursor.execute(f"SELECT e164 FROM contact WHERE e164 IN ({marks})", part)
            found.extend(e164 for (e164,) in cursor.fetchall())
    finally:
        cursor.close()
    return found


def insert_rows(s: Session, table, names: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT *rows* (tuples of the *names* columns' values) through the driver: ``COPY`` on
    PostgreSQL (its bulk path), one ``executemany`` elsewhere.

    At a million rows SQLAlchemy's per-row parameter handling cost more than the database's
    own work: here each value goes through its column type's bind processor (dates, JSON) and
    nothing else, once per distinct value of a column.

    Example: ``insert_rows(s, ContactSource.__table__, ("contact_id", ...), rows)``
    """
    if not rows:
        return
    conn = s.connection()
    params = _bound(conn.dialect, table, names, rows)
    # The DBAPI cursor of the session's connection (same transaction).
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        else:
            marks = ", ".join([_mark(conn.dialect)] * len(names))
            cursor.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})",
                               params)
    finally:
        cursor.close()


def insert_new(s: Session, table, names: tuple[str, ...], rows: list[tuple]) -> list[int]:
    """INSERT *rows* like :func:`insert_rows` and return their new ``id`` values, in row order.

    The ids are the ones the database would give one row after another: on SQLite the first
    row's ``INSERT ... RETURNING id`` takes the write lock (nobody else can insert until this
    transaction ends) and the others follow with the next ids, as SQLite's max + 1 would number
    them; on PostgreSQL they are drawn from the table's sequence in one query. The rows then go
    in bulk with their ids (no ``RETURNING`` of every row).

    Example: ``insert_new(s, Contact.__table__, ("e164",), [("+33612345678",)]) == [1]``
    """
    if not rows:
        return []
    conn = s.connection()
    dialect = conn.dialect
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if dialect.name == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                           "FROM generate_series(1, %s) ORDER BY 1", (table.name, len(rows)))
            ids = [i for (i,) in cursor.fetchall()]
            rest = rows
        else:
            first = _bound(dialect, table, names, rows[:1])[0]
            marks = ", ".join([_mark(dialect)] * len(names))
            cursor.execute(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks}) "
                           "RETURNING id", first)
            (start,), = cursor.fetchall()
            ids = list(range(start, start + len(rows)))
            rest = rows[1:]
    finally:
        cursor.close()
    if rest:
        insert_rows(s, table, ("id", *names),
                    [(i, *row) for i, row in zip(ids[len(ids) - len(rest):], rest)])
    return ids


def _mark(dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _bound(dialect, table, names: tuple[str, ...], rows: list[tuple]) -> list:
    """*rows* with each value through its column type's bind processor."""
    convert = []
    for i, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            convert.append((i, process))
    if not convert:
        return rows
    columns = list(zip(*rows))
    for i, process in convert:
        columns[i] = _processed(columns[i], process)
    return list(zip(*columns))


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
