"""The Controller's own life, start to stop, without Asterisk: the parts it starts are
replaced by recorders, the signal is real."""
import asyncio
import os
import signal
import sys

from sc_asterisk.nodes import NodeInfo
from sc_asterisk.service import Controller

NODE = NodeInfo("n1", "127.0.0.1", 1, "u", "s", "127.0.0.1", 1, "/tmp", "/tmp", "lab")


def _serve_until_signal(db, serve, drain_s):
    """Build the controller in the loop (its AMI clients need one) and run its life."""
    async def main():
        controller, life = _controller(db, serve)
        return await controller.serve_until_signal(drain_s=drain_s), life
    return asyncio.run(main())


def _controller(db, serve):
    controller = Controller(db, NODE, key="k" * 32)
    life = []

    async def start():
        life.append("start")

    async def stop(drain_s=60.0):
        life.append(("stop", drain_s))

    controller.start, controller.stop, controller.serve = start, stop, serve(controller, life)
    return controller, life


def test_sigterm_stops_claiming_then_drains_and_exits_0(db):
    def serve(controller, life):
        async def run():
            os.kill(os.getpid(), signal.SIGTERM)
            await controller.scheduler.stopping.wait()   # dials until told to stop
            life.append("dialing loop ended")
        return run

    status, life = _serve_until_signal(db, serve, 7)
    assert status == 0 and life == ["start", "dialing loop ended", ("stop", 7)]
    # the handlers are gone with the controller: the next SIGINT is the default one again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_failed_dialing_loop_stops_the_controller_with_status_1(db):
    def serve(controller, life):
        async def run():
            raise RuntimeError("database gone")
        return run

    status, life = _serve_until_signal(db, serve, 3)
    assert status == 1 and life == ["start", ("stop", 3)]


def test_the_call_flow_serves_a_session_for_every_channel_its_nodes_carry(db):
    """A FastAGI session over the cap is refused, and its callee waits for the dialplan's
    search before the message: the cap follows the nodes' channels (both of them), never the
    library default (500) when the nodes carry more."""
    big = NodeInfo("n1", "127.0.0.1", 1, "u", "s", "127.0.0.1", 1, "/tmp", "/tmp", "lab",
                   max_channels=600)
    other = NodeInfo("n2", "127.0.0.2", 1, "u", "s", "127.0.0.2", 1, "/tmp", "/tmp", "lab",
                     max_channels=300)

    async def build(nodes, **options):
        return Controller(db, nodes, key="k" * 32, **options).agi.max_sessions
    assert asyncio.run(build([big, other])) >= 900 * 2
    assert asyncio.run(build([big], max_channels={"n1": 1000})) >= 2000
    assert asyncio.run(build([NODE])) == 500          # small nodes: the floor


def test_the_event_loop_gets_the_gil_back_within_a_millisecond(db):
    """The database thread runs pure Python for ms at a time: with CPython's 5 ms switch
    interval the event loop (every call's next FastAGI command) waited behind it, and the
    listen error's tail grew with the calls up (bench/README.md, concurrency)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        async def build():
            Controller(db, NODE, key="k" * 32)
        asyncio.run(build())
        assert sys.getswitchinterval() <= 0.001
    finally:
        sys.setswitchinterval(before)
