"""Audio prompts through HTTP: upload (the body is the file, converted as ``audio import``
does), list, listen (the stored WAV); bad uploads are one line and store nothing."""
from __future__ import annotations

import io
import math
import struct
import wave

from sqlalchemy import func, select

from sc_asterisk.db import AudioAsset
from sc_asterisk.db.models_privacy import AuditEntry


def tone(seconds: float = 1.0, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10)))
                               for i in range(int(seconds * rate))))
    return out.getvalue()


def count(env) -> int:
    with env.db.session() as s:
        return s.scalar(select(func.count()).select_from(AudioAsset))


def test_upload_list_and_listen(web):
    client = web.client("operator")
    response = client.put("/api/v1/audio/jingle?filename=jingle.wav", content=tone(1.5))
    assert response.status_code == 201, response.text
    assert response.json()["duration_ms"] == 1500
    listed = {a["name"]: a for a in client.get("/api/v1/audio").json()}
    assert listed["jingle"]["source_filename"] == "jingle.wav"
    wav = web.client("analyst").get("/api/v1/audio/jingle.wav")
    assert wav.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(wav.content)) as w:        # converted: 8 kHz mono 16-bit
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() == 12000
    with web.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "audio-import")).one()
        assert "operator" in (entry.actor or "")
    # the same content again changes nothing; other content needs replace=true
    assert client.put("/api/v1/audio/jingle", content=tone(1.5)).status_code == 201
    taken = client.put("/api/v1/audio/jingle", content=tone(2.0))
    assert taken.status_code == 400 and "already exists" in taken.json()["error"]
    assert client.put("/api/v1/audio/jingle?replace=true", content=tone(2.0)).status_code == 201
    listed = {a["name"]: a for a in client.get("/api/v1/audio").json()}
    assert listed["jingle"]["duration_ms"] == 2000


def test_bad_uploads_are_one_line_and_store_nothing(web):
    client = web.client("operator")
    before = count(web)
    for path, body, status in (("/api/v1/audio/jingle", b"", 400),
                               ("/api/v1/audio/jingle", b"not audio at all" * 10, 400),
                               ("/api/v1/audio/bad%20name", tone(0.5), 400)):
        response = client.put(path, content=body)
        assert response.status_code == status, (path, response.text)
        error = response.json()["error"]
        assert "\n" not in error and error
    assert count(web) == before
    missing = client.get("/api/v1/audio/nope.wav")
    assert missing.status_code == 404 and "sc-asterisk audio import" in missing.json()["error"]
