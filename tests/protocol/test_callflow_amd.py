"""The broadcast script's AMD branch against a fake Asterisk: what is played for a machine
under each policy, and what is recorded."""
import asyncio

import pytest

from sc_asterisk.agi import AgiServer
from sc_asterisk.callflow.amd import parse_amd
from sc_asterisk.callflow.broadcast import BroadcastHandler
from sc_asterisk.callflow.player import Script, Segment
from sc_asterisk.errors import ConfigError

HEADER = ("agi_network: yes\nagi_network_script: broadcast\nagi_uniqueid: att-1\n"
          "agi_arg_1: /snd\n\n")


class FakeStore:
    def __init__(self, policy):
        self.policy, self.amd, self.played = policy, None, None

    async def script_for(self, attempt_id, sounds_dir, campaign_id=""):
        return Script((Segment("message", "/snd/msg", 2000), Segment("notice", "/snd/n", 1000)),
                      amd_policy=self.policy, voicemail=(Segment("voicemail", "/snd/vm", 500),))

    async def save_amd(self, attempt_id, result, cause):
        self.amd = (result, cause)

    async def save_play(self, attempt_id, result):
        self.played = result


async def session(store, answers):
    server = AgiServer({"broadcast": BroadcastHandler(store, "key")}, port=0)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(HEADER.encode())
    commands = []
    for answer in answers:
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line:
            break
        commands.append(line.decode().strip())
        writer.write(answer.encode())
    writer.close()
    await server.stop(grace=1)
    return commands


# Asterisk's answer to GOSUB: a provisional line, then the result once Return() ran.
GOSUB_OK = "100 result=0 Trying...\n200 result=0 Gosub complete\n"
MACHINE = ["200 result=1 (MACHINE)\n", "200 result=1 (LONGGREETING-2100-1500)\n"]


def test_hangup_policy_plays_nothing_to_a_machine():
    store = FakeStore("hangup")
    commands = asyncio.run(session(store, MACHINE + ["200 result=1\n"]))
    assert commands == ["GET VARIABLE AMDSTATUS", "GET VARIABLE AMDCAUSE", "HANGUP"]
    assert store.amd == ("MACHINE", "LONGGREETING-2100-1500")
    assert store.played.segments == [] and store.played.hung_up_by == "system"


def test_voicemail_policy_plays_the_voicemail_segment_only():
    store = FakeStore("voicemail")
    commands = asyncio.run(session(store, MACHINE + [GOSUB_OK, "200 result=0 endpos=4000\n",
                                                     "200 result=1\n"]))
    assert commands[2:4] == ['GOSUB sc-segment s 1 "0,0,/snd/vm,,9,"', 'STREAM FILE "/snd/vm" "9"']
    assert [s.role for s in store.played.segments] == ["voicemail"]


def test_a_human_hears_the_script_and_detection_time_is_not_listening():
    store = FakeStore("hangup")
    commands = asyncio.run(session(store, ["200 result=1 (HUMAN)\n", "200 result=1 (HUMAN-1-1)\n",
                                           GOSUB_OK, "200 result=0 endpos=16000\n",
                                           GOSUB_OK, "200 result=0 endpos=8000\n",
                                           "200 result=1\n"]))
    assert commands[2:6] == ['GOSUB sc-segment s 1 "0,0,/snd/msg,/snd/n,9,"',
                             'STREAM FILE "/snd/msg" "9"',
                             'GOSUB sc-segment s 1 "1,0,/snd/n,,9,"', 'STREAM FILE "/snd/n" "9"']
    assert store.amd[0] == "HUMAN"
    assert [s.listened_ms for s in store.played.segments] == [2000, 1000]


def test_amd_policy_text():
    assert parse_amd(None) is None and parse_amd("") is None
    assert parse_amd("play").args == ""
    for bad in ("maybe", "hangup:a,b", "hangup:1,2,3,4,5,6,7,8,9,10", "play:1;2"):
        with pytest.raises(ConfigError):
            parse_amd(bad)
