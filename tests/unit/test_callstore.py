import asyncio
import subprocess
import time

from sc_asterisk.audio import import_audio
from sc_asterisk.callflow.store import CallStore
from sc_asterisk.db.worker import DbWorker
from sc_asterisk.db import CallAttempt, Contact
from sc_asterisk.dialer.campaigns import create_campaign, queue_contacts


def test_a_campaign_script_is_read_once_then_served_from_memory(db, tmp_path):
    for name, secs in (("m", 2), ("n", 1)):
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tmp_path / f"{name}.wav"),
                        "synth", str(secs), "sine", "440"], check=True)
    with db.session() as s:
        import_audio(s, tmp_path / "m.wav", "m")
        import_audio(s, tmp_path / "n.wav", "n")
        c = create_campaign(s, "c", message="m", notice="n", compliance_profile="basic")
        contacts = [Contact(e164=f"+3319900000{i}") for i in range(2)]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, c, [x.id for x in contacts])
        campaign_id = str(c.id)
        ids = [a.id for a in s.query(CallAttempt)]
    store = CallStore(DbWorker(db))
    reads = []
    original = store._script_for
    store._script_for = lambda *a: reads.append(a) or original(*a)

    async def main():
        first = await store.script_for(ids[0], "/snd", campaign_id)
        second = await store.script_for(ids[1], "/snd", campaign_id)
        return first, second

    first, second = asyncio.run(main())
    assert first == second and [seg.role for seg in first.segments] == ["message", "notice"]
    assert first.segments[0].length_ms == 2000 and first.segments[0].path.startswith("/snd/sc-")
    assert len(reads) == 1


def test_a_prompt_replaced_during_serve_is_played_by_the_next_call(db, tmp_path):
    """`audio import --replace` while `serve` runs: the claim names the script by its prompts'
    content, so the call after the replacement reads (and publishes) the new recording; the
    call before it keeps the old one."""
    from sc_asterisk.dialer.calls import CallTracker
    from sc_asterisk.dialer.claim import Claim, NodeSlot, Wait
    from sc_asterisk.dialer.retries import NO_RETRY
    from sc_asterisk.dialer.scheduler import NodeLink, Scheduler
    from sc_asterisk.nodes import NodeInfo

    for name, secs, freq in (("m", 2, 440), ("n", 1, 440), ("m2", 3, 660)):
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16",
                        str(tmp_path / f"{name}.wav"), "synth", str(secs), "sine", str(freq)],
                       check=True)
    with db.session() as s:
        import_audio(s, tmp_path / "m.wav", "m")
        import_audio(s, tmp_path / "n.wav", "n")
        c = create_campaign(s, "c", message="m", notice="n", windows="always",
                            retry_policy=NO_RETRY, status="running", compliance_profile="basic",
                            cps=100)      # two claims in a row: pacing must not refuse the second
        contacts = [Contact(e164=f"+3319900000{i}", time_zone="Europe/Paris") for i in range(2)]
        s.add_all(contacts)
        s.flush()
        queue_contacts(s, c, [x.id for x in contacts])
        cid = c.id
    worker = DbWorker(db)
    published = []
    store = CallStore(worker, publish=lambda asset: published.append(asset.sha256))
    node = NodeInfo("n1", "127.0.0.1", 5038, "u", "s", "127.0.0.1", 4573, "/w", "/snd", "lab")
    scheduler = Scheduler(worker, CallTracker(), {"n1": NodeLink(node, ami=None)}, "c1", 4573)

    def claim() -> Claim:
        while True:
            with db.session() as s:
                result = scheduler._claim(s, cid, [NodeSlot("n1", 10)], time.time())
            if not isinstance(result, Wait) or result.seconds is None:
                break
            time.sleep(result.seconds)      # the campaign's pace: its next token
        assert isinstance(result, Claim)
        return result

    async def main():
        first = claim()
        before = await store.script_for(first.attempt_id, "/snd", first.script_key)
        again = await store.script_for(first.attempt_id, "/snd", first.script_key)
        with db.session() as s:
            new = import_audio(s, tmp_path / "m2.wav", "m", replace=True).sha256
        second = claim()
        after = await store.script_for(second.attempt_id, "/snd", second.script_key)
        await worker.close()
        return first, second, before, again, after, new

    first, second, before, again, after, new = asyncio.run(main())
    assert again is before                                      # memory between changes
    assert first.script_key != second.script_key
    assert first.script_key.startswith(f"{cid}.") and "," not in second.script_key
    assert before.segments[0].length_ms == 2000
    assert after.segments[0].length_ms == 3000
    assert after.segments[0].path == f"/snd/sc-{new[:16]}"
    # What the dialplan plays if no controller answers the call: the same files, as the node
    # sees them, in order (the replaced prompt included), the opt-out digit and confirmation.
    for claimed, script in ((first, before), (second, after)):
        assert dict(claimed.fallback) == {
            "SC_SCRIPT": "&".join(seg.path for seg in script.segments),
            "SC_OPTOUT_DIGIT": script.optout_digit, "SC_OPTOUT_CONFIRM": ""}
    assert new in published                                     # put on the nodes first


def test_the_script_files_are_the_call_flows_without_loading_audio(db, tmp_path):
    """What the dialplan plays alone (dialer fallback) names the files the call flow plays."""
    from sc_asterisk.callflow.store import campaign_script, script_files
    for name, seconds in (("m", 2), ("n", 1), ("i", 1), ("c", 1)):
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16",
                        str(tmp_path / f"{name}.wav"), "synth", str(seconds), "sine", "440"],
                       check=True)
    with db.session() as s:
        for name in "mnic":
            import_audio(s, tmp_path / f"{name}.wav", name)
        c = create_campaign(s, "c", message="m", notice="n", optout_intro="i",
                            optout_confirm="c", windows="always")
        script = campaign_script(c, "/snd")
        assert script_files(s, c.id, "/snd") == (
            tuple(seg.path for seg in script.segments), script.optout_digit,
            script.optout_confirm)
        assert len(script.segments) == 3 and script.optout_confirm.startswith("/snd/sc-")
