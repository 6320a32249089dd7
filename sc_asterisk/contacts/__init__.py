"""Contacts room: import and normalisation, provenance, targeting, suppression, subject rights.

The dialer's entry points::

    from sc_asterisk.contacts import dial_check, parse_where, select_audience
"""
from .importer import ImportOptions, ImportSummary, import_contacts, open_import
from .numbers import NumberRejected, PhoneInfo, normalise, to_e164
from .reader import UnreadableFile
from .subject import ErasureReport, erase_subject, export_subject
from .suppression import ERASED, SuppressionStore, dial_check
from .targeting import Audience, Filters, parse_where, select_audience

__all__ = ["Audience", "ERASED", "ErasureReport", "Filters", "ImportOptions", "ImportSummary",
           "NumberRejected", "PhoneInfo", "SuppressionStore", "UnreadableFile", "dial_check",
           "erase_subject", "export_subject", "import_contacts", "normalise", "open_import",
           "parse_where", "select_audience", "to_e164"]
