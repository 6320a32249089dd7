import asyncio
import subprocess

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
