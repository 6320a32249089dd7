"""Who may do what, as data: one table from permission to the roles that hold it.

Every check goes through :func:`allowed`; no route or command compares role names itself.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Mapping


class Role(StrEnum):
    OPERATOR = "operator"      # contacts, audience, campaigns
    ANALYST = "analyst"        # reports and pseudonymised exports
    ENGINEER = "engineer"      # nodes and trunks
    ADMIN = "admin"            # users, clear-number exports, erasure; and everything else


class Permission(StrEnum):
    CAMPAIGN_READ = "campaign:read"          # list, show, live status
    CAMPAIGN_EDIT = "campaign:edit"          # create, queue the audience
    CAMPAIGN_CONTROL = "campaign:control"    # start, pause, resume, cancel
    REPORT_READ = "report:read"              # figures as JSON
    CDR_EXPORT = "cdr:export"                # pseudonymised exports
    CDR_EXPORT_CLEAR = "cdr:export-clear"    # exports with clear numbers
    CONTACT_EDIT = "contact:edit"            # import, show, suppression
    SUBJECT_RIGHTS = "subject:rights"        # a person's export (clear data) and erasure
    TELECOM_READ = "telecom:read"            # nodes and trunks
    USER_ADMIN = "user:admin"                # users and their tokens


R, P = Role, Permission
PERMISSIONS: Mapping[Permission, frozenset[Role]] = {
    P.CAMPAIGN_READ: frozenset({R.OPERATOR, R.ANALYST, R.ADMIN}),
    P.CAMPAIGN_EDIT: frozenset({R.OPERATOR, R.ADMIN}),
    P.CAMPAIGN_CONTROL: frozenset({R.OPERATOR, R.ADMIN}),
    P.REPORT_READ: frozenset({R.ANALYST, R.ADMIN}),
    P.CDR_EXPORT: frozenset({R.ANALYST, R.ADMIN}),
    P.CDR_EXPORT_CLEAR: frozenset({R.ADMIN}),
    P.CONTACT_EDIT: frozenset({R.OPERATOR, R.ADMIN}),
    P.SUBJECT_RIGHTS: frozenset({R.ADMIN}),
    P.TELECOM_READ: frozenset({R.ENGINEER, R.ADMIN}),
    P.USER_ADMIN: frozenset({R.ADMIN}),
}

ROLES = tuple(r.value for r in Role)


def allowed(role: str, permission: Permission) -> bool:
    """Whether *role* holds *permission*.

    >>> allowed("analyst", Permission.CDR_EXPORT), allowed("analyst", Permission.CDR_EXPORT_CLEAR)
    (True, False)
    """
    return role in PERMISSIONS[permission]
