"""Stored prompts for tests that need an AudioAsset row the call flow can publish: a real
(silent) prompt in the stored format, its hash matching its bytes."""
import hashlib
import io
import wave

from sc_asterisk.audio import SAMPLE_RATE, SAMPLE_WIDTH
from sc_asterisk.db import AudioAsset


def prompt_asset(name: str, ms: int = 1000) -> AudioAsset:
    """Example: ``s.add(prompt_asset("m"))``; each name gets its own bytes (and file)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(b"\0\0" * (SAMPLE_RATE * ms // 1000))
        wav.writeframes(name.encode())      # one odd sample or so: distinct content per name
    data = out.getvalue()
    return AudioAsset(name=name, sha256=hashlib.sha256(data).hexdigest(), duration_ms=ms,
                      source_filename=f"{name}.wav", data=data)
