"""What a node can say right now, and what ``node check`` needs from the database.

``node_state`` asks the node itself over a short AMI session of its own: whether the AMI
logs in, how many channels it has up (CoreShowChannels: every channel, ours or not), and the
outbound registration of each trunk it carries. That is live as of the question; it is not
the controller's own view of its link (a controller that cannot reach the node is not asked).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ..errors import ScError
from ..nodes import NodeInfo
from .link import ami_link
from .nodes import callback_numbers, carried_trunks, get_node, node_info
from .probe import registration


@dataclass
class NodeCheckPlan:
    """``check_node``'s arguments for a node of the database."""

    info: NodeInfo
    public_address: str | None
    callback_numbers: tuple[str, ...]
    extra_modules: tuple[str, ...]


def plan_node_check(session: Session, name: str) -> NodeCheckPlan:
    """Read *name*'s node for ``check_node`` (its secret included).

    Example: ``plan = plan_node_check(s, "paris-1"); await check_node(plan.info, ...)``
    """
    row = get_node(session, name)
    extra = ("res_srtp",) if any(t.srtp for t in carried_trunks(row)) else ()
    return NodeCheckPlan(node_info(row), row.public_address, tuple(callback_numbers(row)), extra)


@dataclass
class NodeState:
    node: str
    ami_up: bool
    error: str | None = None
    channels: int | None = None            # channels up on the node, all of them
    registrations: dict[str, str | None] = field(default_factory=dict)   # trunk -> status
    checked_at: float = field(default_factory=time.time)


def state_plan(session: Session, name: str) -> tuple[NodeInfo, list[tuple[str, bool]]]:
    """The node's link and its trunks as (name, registers)."""
    row = get_node(session, name)
    return node_info(row), [(t.name, bool(t.register)) for t in carried_trunks(row)]


async def node_state(info: NodeInfo, trunks: list[tuple[str, bool]],
                     timeout: float = 3.0) -> NodeState:
    """Ask the node now (see the module's docstring); a node that cannot be reached is
    ``ami_up=False`` with the one-line reason.

    Example: ``state = await node_state(*state_plan(s, "paris-1"))``
    """
    try:
        async with ami_link(info, timeout) as ami:
            channels = await ami.live_channels()
            regs: dict[str, str | None] = {}
            for trunk, registers in trunks:
                if registers:
                    status = await registration(ami, trunk)
                    regs[trunk] = status.status if status else "not loaded"
                else:
                    regs[trunk] = None
    except ScError as exc:
        return NodeState(info.name, False, exc.one_line())
    return NodeState(info.name, True, channels=len(channels), registrations=regs)
