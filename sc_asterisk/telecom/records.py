"""Nodes and trunks by name: one lookup (case-insensitive), one not-found error naming the fix,
one removal that takes the record's secret file with it."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import NotFound

R = TypeVar("R")


def find_named(session: Session, model: type[R], name: str) -> R | None:
    """The record of *model* called *name*, whatever its case, or None.

    Case-insensitive: "ACME" and "acme" would be one endpoint to a human reading the logs.
    Example: ``find_named(s, Trunk, "ACME")``
    """
    return session.scalar(select(model).where(func.lower(model.name) == str(name).lower()))


def get_named(session: Session, model: type[R], kind: str, name: str) -> R:
    """Like :func:`find_named`; NotFound names the ``list`` command of *kind*.

    Example: ``get_named(s, Node, "node", "paris-1")``
    """
    record = find_named(session, model, name)
    if record is None:
        raise NotFound(f"no {kind} named {name!r}", fix=f"see: sc-asterisk {kind} list")
    return record


def remove_with_secret(session: Session, record, secret_file: str | None) -> None:
    """Delete *record*, then its secret file (after the flush: a refused delete keeps it).

    Example: ``remove_with_secret(s, trunk, trunk.secret_file)``
    """
    session.delete(record)
    session.flush()
    if secret_file:
        Path(secret_file).unlink(missing_ok=True)
