"""Dialer room: campaign lifecycle, attempt states, pacing, outcomes. No wire formats."""
