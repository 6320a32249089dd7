"""sc_asterisk: an open, auditable voice-broadcast backend for a self-hosted Asterisk."""

__version__ = "0.1.0"
