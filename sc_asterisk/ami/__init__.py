"""AMI room: the link to one Asterisk node. Knows nothing of campaigns or the database."""
from .client import AmiClient

__all__ = ["AmiClient"]
