"""The audit log: who did what to whose data. Subjects are pseudonyms, never clear numbers."""
from __future__ import annotations

import getpass
import os

from sqlalchemy.orm import Session

from ..db.models_privacy import AuditEntry


def os_user() -> str:
    """The operating-system user running the command (containers may have no passwd entry).

    Example: ``os_user() == "root"``
    """
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def record_audit(session: Session, action: str, subject: str | None, details: dict,
                 actor: str | None = None) -> AuditEntry:
    """Add one audit entry to the session's transaction.

    Example: ``record_audit(s, "erase", store.pseudonym("+33612345678"), {"attempts": 2})``
    """
    entry = AuditEntry(actor=actor or os_user(), action=action, subject=subject, details=details)
    session.add(entry)
    return entry
