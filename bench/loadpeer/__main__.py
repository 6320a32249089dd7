"""``python -m bench.loadpeer``: run one load peer (one fake Asterisk node) until SIGTERM.

Example::

    python -m bench.loadpeer --port 15038 --secret-file ami.secret --sounds /tmp/sounds \\
        --answer-ratio 0.7 --time-scale 0.01 --arrivals originates.csv --stats peer.json

Prints ``listening on HOST:PORT`` once it accepts AMI logins; on SIGTERM writes its counters
(Originates, answered, FastAGI sessions, duplicates) as JSON to ``--stats``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from .ami import Peer
from .calls import CallModel


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.loadpeer", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="AMI port (0: any free one)")
    p.add_argument("--user", default="sc-controller")
    p.add_argument("--secret-file", type=Path, required=True,
                   help="file whose first line is the AMI secret (the node's)")
    p.add_argument("--sounds", required=True, help="SC_SOUNDS: where the prompts are published")
    p.add_argument("--answer-ratio", type=float, default=0.7)
    p.add_argument("--busy-ratio", type=float, default=0.3, help="of the calls not answered")
    p.add_argument("--ring-s", type=float, nargs=2, default=(2.0, 12.0), metavar=("MIN", "MAX"))
    p.add_argument("--full-listen", type=float, default=0.6,
                   help="share of answered callees who hear the whole script")
    p.add_argument("--optout", type=float, default=0.0, help="share who press the opt-out digit")
    p.add_argument("--time-scale", type=float, default=0.01,
                   help="wall seconds per call second (0.01: 60 s plays in 0.6 s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-cdr", action="store_true", help="no Cdr event (cdr_manager off)")
    p.add_argument("--arrivals", type=Path, help="append 'channel id,arrival ms' per Originate")
    p.add_argument("--stats", type=Path, help="write the counters here as JSON on exit")
    return p.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    model = CallModel(answer_ratio=args.answer_ratio, busy_ratio=args.busy_ratio,
                      ring_s=tuple(args.ring_s), full_listen_ratio=args.full_listen,
                      optout_ratio=args.optout, time_scale=args.time_scale)
    secret = args.secret_file.read_text().splitlines()[0].strip()
    arrivals = open(args.arrivals, "a", buffering=1) if args.arrivals else None
    peer = Peer(secret, args.sounds, model, user=args.user, seed=args.seed, arrivals=arrivals,
                cdr=not args.no_cdr)
    port = await peer.start(args.host, args.port)
    print(f"listening on {args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await peer.stop()
    if arrivals is not None:
        arrivals.close()
    if args.stats:
        figures = asdict(peer.stats)
        figures["hung_up_by"] = dict(peer.stats.hung_up_by)
        args.stats.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
