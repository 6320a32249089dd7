"""An AMI link to a node for the engineer's one-shot tools, with a one-line reason on failure."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from ..aio import within
from ..ami import AmiClient
from ..errors import AmiError
from ..nodes import NodeInfo
from .pjsip_status import command_text

BANNER = b"Asterisk Call Manager/"


async def probe_ami_port(host: str, port: int, timeout: float = 3.0) -> str:
    """Open a TCP connection and read the AMI banner; returns it, or raises AmiError saying
    why (refused, no answer, not an AMI port). Sends nothing, so it never logs in.

    Example: ``await probe_ami_port("127.0.0.1", 5038)`` -> ``"Asterisk Call Manager/9.0.0"``
    """
    where = f"{host}:{port}"
    try:
        reader, writer = await within(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        raise AmiError(f"AMI port {where} is closed (connection refused)",
                       fix="check that Asterisk runs and manager.conf binds this address") \
            from None
    except asyncio.TimeoutError:
        raise AmiError(f"AMI port {where} does not answer within {timeout:g}s",
                       fix="check the address and any firewall between here and the node") \
            from None
    except OSError as exc:
        raise AmiError(f"cannot reach AMI at {where}: {exc.strerror or exc}",
                       fix="check the node's AMI host name and port") from None
    try:
        banner = await within(reader.readline(), timeout)
    except (asyncio.TimeoutError, ConnectionError):
        banner = b""
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    if not banner.startswith(BANNER):
        raise AmiError(f"{where} is not an Asterisk manager port",
                       fix="check the node's AMI port (usually 5038)")
    return banner.decode("ascii", "replace").strip()


@asynccontextmanager
async def ami_link(info: NodeInfo, timeout: float = 5.0) -> AsyncIterator[AmiClient]:
    """A logged-in AmiClient for the duration of the block. Example::

        async with ami_link(node_info(node)) as ami:
            print(await cli(ami, "core show version"))
    """
    await probe_ami_port(info.ami_host, info.ami_port, timeout)
    ami = AmiClient(info.ami_host, info.ami_port, info.ami_user, info.ami_secret,
                    name=info.name, reconnect_delay=1.0)
    await ami.connect(timeout)
    try:
        yield ami
    finally:
        ami.close()


async def cli(ami: AmiClient, command: str) -> str:
    """Run an Asterisk CLI command over AMI and return its text output."""
    response = await ami.action({"Action": "Command", "Command": command})
    return command_text(response.get("Output", response.get("content", "")))
