"""``python -m sc_asterisk`` = the ``sc-asterisk`` command."""
from .cli import main

main()
