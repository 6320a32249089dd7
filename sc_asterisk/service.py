"""The controller: AMI link + FastAGI server + campaign runner, started and stopped as one.

Used by ``campaign run`` (one campaign, then exit) and by ``demo``; one shutdown path.
"""
from __future__ import annotations

import logging

from .agi import AgiServer
from .ami import AmiClient
from .callflow.broadcast import BroadcastHandler
from .callflow.store import CallStore
from .db import Database
from .dialer.runner import CampaignRunner, DialCheck
from .lab.instance import NodeInfo

log = logging.getLogger(__name__)


class Controller:
    """Example::

        async with Controller(db, node) as controller:
            outcomes = await controller.run_campaign("demo")
    """

    def __init__(self, db: Database, node: NodeInfo, dial_check: DialCheck | None = None,
                 agi_bind: str = "127.0.0.1"):
        self.db, self.node = db, node
        self.store = CallStore(db)
        self.ami = AmiClient(node.ami_host, node.ami_port, node.ami_user, node.ami_secret,
                             name=node.name)
        self.runner = CampaignRunner(self.ami, node, self.store, dial_check=dial_check)
        self.agi = AgiServer({"broadcast": BroadcastHandler(self.store, self.runner.agi_finished)},
                             host=agi_bind, port=node.agi_port)

    async def start(self) -> None:
        await self.agi.start()
        try:
            await self.ami.connect()
        except Exception:
            await self.agi.stop(grace=0)
            raise

    async def stop(self) -> None:
        self.ami.close()
        await self.agi.stop()
        self.store.executor.shutdown(wait=True)

    async def __aenter__(self) -> "Controller":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def run_campaign(self, name: str) -> dict[str, int]:
        return await self.runner.run(name)
