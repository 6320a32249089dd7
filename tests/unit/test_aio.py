"""within(): a timeout that never swallows a cancellation (asyncio.wait_for does on 3.11)."""
import asyncio

import pytest

from sc_asterisk.aio import within


def test_a_cancellation_landing_as_the_awaited_thing_completes_is_not_lost():
    """The race that left a stopping controller's housekeeping running for ever: the task is
    cancelled in the same loop turn as the response it awaits arrives."""
    async def main():
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        task = asyncio.create_task(within(answer, 10))
        await asyncio.sleep(0)            # the task now awaits the answer
        answer.set_result("pong")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_within_returns_the_result_and_times_out():
    async def main():
        assert await within(asyncio.sleep(0, result=7), 1) == 7
        assert await within(asyncio.sleep(0, result=8), None) == 8
        with pytest.raises(asyncio.TimeoutError):
            await within(asyncio.Event().wait(), 0.01)

    asyncio.run(main())
