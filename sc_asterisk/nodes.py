"""What the controller needs to know about one Asterisk node, whoever describes it (the lab,
or the node table)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeInfo:
    """What the controller needs to drive a node (the lab writes it, production has a table)."""

    name: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    agi_host: str
    agi_port: int
    sounds_dir: str          # where the controller writes published audio
    asterisk_sounds_dir: str  # the same directory as Asterisk sees it
    trunk_endpoint: str
    max_channels: int = 200
    trunks: tuple[str, ...] = ()   # trunks this node carries; empty: every trunk (the lab)
    # The node's CEL log (templates/cel_custom.conf) as the controller reads it: what a
    # restarted controller rebuilds lost records from. None: not readable from here.
    cel_file: str | None = None
