"""Where the project's own shipped resources live (dialplan/, sounds/, migrations/).

They sit at the top of the source tree, beside the package, as the design asks; the project is
installed in editable mode (``pip install -e .``), which keeps them reachable.
"""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DIALPLAN_DIR = PROJECT_ROOT / "dialplan"
SOUNDS_DIR = PROJECT_ROOT / "sounds"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
