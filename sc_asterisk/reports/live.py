"""The operator's live view of a running campaign, as a pure function of counts.

The caller (``campaign status --watch``) gathers the counts once a second and prints this text;
nothing here touches the database or the terminal.
"""
from __future__ import annotations

from typing import Mapping

from ..dialer.states import INFLIGHT_STATES, AttemptState

# Attempt states that are not finished yet.
_WAITING, _IN_FLIGHT = (AttemptState.QUEUED,), INFLIGHT_STATES


def format_live_status(campaign: str, status: str, states: Mapping[str, int],
                       outcomes: Mapping[str, int], *, cps: float | None = None,
                       in_flight: int | None = None, heard_min: int | None = None,
                       min_listen_s: int = 10, width: int = 40) -> str:
    """Progress, in flight, calls per second, outcomes and listen rate so far.

    *states*: attempts by state; *outcomes*: call records by outcome; *cps*: calls started per
    second over the last interval; *in_flight*: live channels (default: attempts in a dialling
    state); *heard_min*: answered calls that heard >= *min_listen_s* s of the message.

    >>> print(format_live_status("muni", "running", {"queued": 6, "finished": 4},
    ...       {"answered": 3, "busy": 1}, cps=2.0, in_flight=0, heard_min=2, width=10))
    muni  running
    [####------]  4/10 done (40.0 %)  in flight 0  2.0 calls/s
    outcomes: answered=3 busy=1
    listen rate (>= 10 s of the message): 66.7 % of 3 answered
    """
    total = sum(states.values())
    flying = in_flight if in_flight is not None else sum(states.get(s, 0) for s in _IN_FLIGHT)
    done = total - sum(states.get(s, 0) for s in _WAITING) - flying
    filled = round(width * done / total) if total else 0
    bar = "[" + "#" * filled + "-" * (width - filled) + "]"
    share = f"{100 * done / total:.1f} %" if total else "-"
    speed = f"{cps:.1f} calls/s" if cps is not None else "- calls/s"
    answered = outcomes.get("answered", 0)
    if heard_min is None:
        listen = "listen rate: -"
    elif answered:
        listen = (f"listen rate (>= {min_listen_s} s of the message): "
                  f"{100 * heard_min / answered:.1f} % of {answered} answered")
    else:
        listen = "listen rate: - (no answered call yet)"
    outcome_text = " ".join(f"{k}={v}" for k, v in sorted(outcomes.items(), key=str)) or "-"
    return "\n".join([f"{campaign}  {status}",
                      f"{bar}  {done}/{total} done ({share})  in flight {flying}  {speed}",
                      f"outcomes: {outcome_text}", listen])
