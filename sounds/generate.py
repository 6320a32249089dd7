"""Regenerate every sounds/<name>.wav from sounds/<name>.fr.txt with espeak-ng.

Each text is spoken by espeak-ng (French voice), its leading and trailing silence trimmed, then
passed through sc_asterisk.audio.convert() so the shipped files are already what an import
produces: mono, 16-bit, 8 kHz WAV at the project's loudness.

Example: python sounds/generate.py            (all prompts)
         python sounds/generate.py notice     (only sounds/notice.fr.txt)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pydub import AudioSegment
from pydub.silence import detect_leading_silence

from sc_asterisk.audio import convert

SOUNDS = Path(__file__).resolve().parent
VOICE = "fr+f3"  # French, female variant: the sample candidate is a woman
WORDS_PER_MINUTE = 160
# Kept around the speech so the first syllable is not cut by a codec or a late media path.
PAD_MS = 150


def speak(text_file: Path, workdir: Path) -> Path:
    """Synthesize *text_file* and return a WAV without the synthesizer's silences."""
    raw = workdir / f"{text_file.stem}.raw.wav"
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw),
                    "-f", str(text_file)], check=True)
    speech = AudioSegment.from_wav(raw)
    thresh = speech.max_dBFS - 50
    start = max(0, detect_leading_silence(speech, silence_threshold=thresh) - PAD_MS)
    end = len(speech) - max(0, detect_leading_silence(speech.reverse(), silence_threshold=thresh) - PAD_MS)
    trimmed = workdir / f"{text_file.stem}.wav"
    speech[start:end].export(trimmed, format="wav")
    return trimmed


def generate(name: str, workdir: Path) -> int:
    """Write sounds/<name>.wav atomically from sounds/<name>.fr.txt; return its duration in ms."""
    audio = convert(speak(SOUNDS / f"{name}.fr.txt", workdir))
    fd, tmp = tempfile.mkstemp(dir=SOUNDS, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(audio.wav_bytes)
    os.chmod(tmp, 0o644)
    os.replace(tmp, SOUNDS / f"{name}.wav")
    return audio.duration_ms


def main(names: list[str]) -> int:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed (apt-get install espeak-ng)", file=sys.stderr)
        return 2
    available = sorted(p.name[: -len(".fr.txt")] for p in SOUNDS.glob("*.fr.txt"))
    unknown = sorted(set(names) - set(available))
    if unknown:
        print(f"no sounds/<name>.fr.txt for: {', '.join(unknown)} (have: {', '.join(available)})",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as workdir:
        for name in names or available:
            print(f"{name}.wav  {generate(name, Path(workdir))} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
