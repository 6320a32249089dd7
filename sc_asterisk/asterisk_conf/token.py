"""The installation's FastAGI token as the renderer and ``node check`` need it."""
from __future__ import annotations

from ..agi.auth import derive_token
from ..config import Settings
from ..keys import read_key


def installation_agi_token(settings: Settings | None = None) -> str:
    """This installation's FastAGI token (from its installation key): rendered into the nodes'
    ``SC_AGI``, checked by every controller of the installation. The one place outside the
    controller that reads the key for it. The key file is read, never made (``key init`` makes
    it); commands that have the database use ``derive_token(ctx.key())``, which checks it.

    Example: ``NodeConfig(..., agi_token=installation_agi_token(ctx.settings))``
    """
    settings = settings or Settings.load()
    return derive_token(read_key(settings))
