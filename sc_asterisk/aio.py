"""Small asyncio helpers shared by the protocol and controller code."""
from __future__ import annotations

import asyncio
from typing import Awaitable, TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], seconds: float | None) -> T:
    """Await *aw* for at most *seconds* (None: no limit); TimeoutError after that.

    Used instead of ``asyncio.wait_for``: on Python 3.11, wait_for returns the result and
    swallows a cancellation that arrives as the awaited thing completes, so a task being
    stopped (the controller's housekeeping, a call being cancelled) could go on for ever.

    Example: ``line = await within(reader.readline(), 5)``
    """
    async with asyncio.timeout(seconds):
        return await aw
