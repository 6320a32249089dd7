"""Where the project's own shipped resources live (dialplan/, sounds/, migrations/).

Their source of truth is the top of the source tree, beside the package, as the design asks: a
checkout (or an editable install) reads them there. A wheel carries copies inside the package,
as ``sc_asterisk/_data/<folder>`` (see setup.py): an installed package needs no source tree.
"""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
RESOURCES_DIR = _PACKAGE / "_data" if (_PACKAGE / "_data").is_dir() else _PACKAGE.parent
DIALPLAN_DIR = RESOURCES_DIR / "dialplan"
SOUNDS_DIR = RESOURCES_DIR / "sounds"
MIGRATIONS_DIR = RESOURCES_DIR / "migrations"
