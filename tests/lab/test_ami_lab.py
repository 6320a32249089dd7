"""The AMI link's typed calls against a real Asterisk: the answers the dialer and reconciliation
rely on (an Originate followed by its channel id, the live channel list, a refusal) are
Asterisk's own, not our fake's."""
import asyncio
import secrets

import pytest

from sc_asterisk.ami import AmiClient, AmiRefused, ChannelState, Hangup, OriginateResult
from sc_asterisk.errors import AmiError


def test_an_originate_is_followed_by_its_channel_id_and_listed_while_live(lab):
    info = lab.node_info()
    context, channel_id = f"sc-amitest-{secrets.token_hex(4)}", f"att-{secrets.token_hex(6)}"

    async def main():
        ami = AmiClient(info.ami_host, info.ami_port, info.ami_user, info.ami_secret)
        await ami.connect()
        seen: list = []
        hung_up = asyncio.Event()

        def ours(event):
            if event.channel_id == channel_id:
                seen.append(event)
                if isinstance(event, Hangup):
                    hung_up.set()
        for kind in (OriginateResult, ChannelState, Hangup):
            ami.subscribe(kind, ours)
        try:
            # A channel that answers and stays up for 3 s, without any SIP peer.
            await ami.command(f"dialplan add extension s,1,Answer() into {context}")
            await ami.command(f"dialplan add extension s,2,Wait(3) into {context}")
            with pytest.raises(AmiRefused):          # Asterisk's own Error answer
                await ami.originate(channel="no-such-technology", channel_id="att-x",
                                    context=context, exten="s", timeout_ms=5000)
            await ami.originate(channel=f"Local/s@{context}/n", channel_id=channel_id,
                                context=context, exten="s", timeout_ms=5000,
                                variables={"SC_CAMPAIGN": "7"})
            await asyncio.wait_for(_until(lambda: any(isinstance(e, OriginateResult)
                                                      for e in seen)), 5)
            live = await ami.live_channels()
            await asyncio.wait_for(hung_up.wait(), 10)
            after = await ami.live_channels()
        finally:
            await ami.command(f"dialplan remove context {context}")
            ami.close()
        with pytest.raises(AmiError):                # the node cannot say: the link is closed
            await ami.live_channels()
        return seen, live, after

    seen, live, after = asyncio.run(main())
    result = next(e for e in seen if isinstance(e, OriginateResult))
    assert result.answered and result.reason == 4 and result.at_ms is not None
    assert any(isinstance(e, ChannelState) and e.up for e in seen)
    assert live.get(channel_id) == "Up" and channel_id not in after
    hangup = seen[-1]
    assert isinstance(hangup, Hangup) and hangup.at_ms >= result.at_ms
    assert isinstance(hangup.cause, int) and hangup.cause_text  # a Local channel ends with 0


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.05)
