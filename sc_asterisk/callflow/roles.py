"""Segment roles of a campaign's script."""

PLAYED_ROLES = ("optout-intro", "message", "notice")   # in play order
CONFIRM_ROLE = "optout-confirm"                          # played only after an opt-out
VOICEMAIL_ROLE = "voicemail"                             # played to machines (AMD policy)
