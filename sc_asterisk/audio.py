"""Prompts: conversion to the one format Asterisk plays, storage, and publication as files.

Every prompt becomes mono, 16-bit, 8000 Hz PCM WAV (Asterisk's ``wav`` format). One format for
all prompts means a STREAM FILE ``endpos`` (a sample offset) converts to milliseconds the same
way everywhere: ``samples_to_ms(endpos)`` = samples / 8.

Loudness policy: the average (RMS) level over the whole file is brought to ``TARGET_DBFS``
(-20 dBFS: the usual level for telephone prompts, a few dB above the network's nominal speech level
so a prompt is not quieter than a live caller), but no sample may exceed ``PEAK_CEILING_DBFS``
(-1 dBFS). That leaves 19 dB for the crest factor, enough for synthetic and most spoken prompts.
A peakier recording keeps its peaks under the ceiling and ends up quieter than the target rather
than clipped; ``ConvertedAudio.dbfs`` reports the level reached.

Resampling is done by ffmpeg (through pydub's export) rather than pydub's ``audioop``-based
``set_frame_rate``: ffmpeg low-pass filters before decimating, so content above 4 kHz (sibilants,
music) does not fold back into the band as audible aliasing.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError
from pydub.utils import mediainfo_json
from sqlalchemy import select
from sqlalchemy.orm import Session

from .db.models import AudioAsset
from .errors import NotFound, ScError
from .files import atomic_write

with warnings.catch_warnings():     # deprecated in 3.11, gone in 3.13 (then: audioop-lts)
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes: 16-bit signed PCM
TARGET_DBFS = -20.0
PEAK_CEILING_DBFS = -1.0
GAIN_TOLERANCE_DB = 0.1
# Below this average level a file is silence or hiss: normalising it would only amplify noise.
SILENCE_DBFS = -60.0
MAX_DURATION_S = 600
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
FILE_PREFIX = "sc-"
# Published beside each prompt's .wav: the same samples in the codecs trunks carry.
G711 = {"alaw": audioop.lin2alaw, "ulaw": audioop.lin2ulaw}


class AudioError(ScError):
    """An audio file cannot be turned into a prompt, or a prompt name is wrong or taken."""


@dataclass(frozen=True)
class ConvertedAudio:
    """A prompt ready for Asterisk. ``dbfs``/``peak_dbfs`` are the levels after normalisation."""

    wav_bytes: bytes
    duration_ms: int
    sha256: str
    dbfs: float = TARGET_DBFS
    peak_dbfs: float = PEAK_CEILING_DBFS


def samples_to_ms(samples: int, rate: int = SAMPLE_RATE) -> int:
    """Milliseconds heard for a sample offset (rounded down).

    Example: ``samples_to_ms(35040)`` -> 4380 (an ``endpos=35040`` from STREAM FILE).
    """
    if samples < 0 or rate <= 0:
        raise ValueError(f"samples must be >= 0 and rate > 0 (got {samples}, {rate})")
    return samples * 1000 // rate


def ms_to_samples(ms: int, rate: int = SAMPLE_RATE) -> int:
    """Sample offset for a time in milliseconds (rounded down), e.g. to resume a prompt.

    Example: ``ms_to_samples(4380)`` -> 35040.
    """
    if ms < 0 or rate <= 0:
        raise ValueError(f"ms must be >= 0 and rate > 0 (got {ms}, {rate})")
    return ms * rate // 1000


def validate_name(name: str) -> str:
    """Return *name* if it can be a prompt name (it ends up in a file name inside Asterisk).

    Example: ``validate_name("message-2026")`` -> "message-2026"; ``validate_name("Mon message")``
    raises AudioError.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise AudioError(f"invalid audio name {name!r}",
                         fix="use 1-63 characters among a-z 0-9 _ -, starting with a letter or digit")
    return name


def convert(path: str | os.PathLike) -> ConvertedAudio:
    """Read any audio file ffmpeg decodes (WAV, MP3, OGG...) and return the prompt Asterisk plays.

    Example::

        audio = convert("message.mp3")
        audio.duration_ms, audio.sha256[:16]   # (21340, '3f9a...')
    """
    src = Path(path)
    label = src.name or str(src)
    if shutil.which(AudioSegment.converter) is None:
        raise AudioError(f"{AudioSegment.converter} is not installed, it decodes audio",
                         fix="install it: apt-get install ffmpeg")
    if not src.exists():
        raise AudioError(f"{src}: no such file", fix="check the path to the audio file")
    if not src.is_file():
        raise AudioError(f"{src} is not a file", fix="give the path of an audio file")
    if src.stat().st_size == 0:
        raise AudioError(f"{label} is empty", fix="give a WAV, MP3 or OGG file that contains audio")
    _refuse_long(src, label)
    segment = _decode(src, label)
    if segment.frame_count() == 0:
        raise AudioError(f"{label} contains no audio", fix="give a WAV, MP3 or OGG file that contains audio")
    if segment.duration_seconds > MAX_DURATION_S:
        raise _too_long(label, segment.duration_seconds)
    telephone = _to_telephone_format(segment, label)
    if telephone.dBFS < SILENCE_DBFS:
        raise AudioError(f"{label} is silent or nearly so ({telephone.dBFS:.0f} dBFS)",
                         fix="check the recording or record it louder")
    gain = min(TARGET_DBFS - telephone.dBFS, PEAK_CEILING_DBFS - telephone.max_dBFS)
    # A file already at the target is kept sample for sample, so converting twice (e.g. importing
    # a shipped prompt) gives the same bytes and the same sha256.
    normalised = telephone if abs(gain) < GAIN_TOLERANCE_DB else telephone.apply_gain(gain)
    wav = normalised.export(io.BytesIO(), format="wav").getvalue()
    samples = int(normalised.frame_count())
    return ConvertedAudio(wav_bytes=wav, duration_ms=samples_to_ms(samples),
                          sha256=hashlib.sha256(wav).hexdigest(),
                          dbfs=normalised.dBFS, peak_dbfs=normalised.max_dBFS)


def _refuse_long(src: Path, label: str) -> None:
    # Probing first keeps an hour-long file from being decoded into memory just to be refused.
    try:
        duration = float(mediainfo_json(str(src)).get("format", {}).get("duration", 0))
    except (ValueError, TypeError, OSError):
        return  # unknown here; the decoded length is checked again after decoding
    if duration > MAX_DURATION_S:
        raise _too_long(label, duration)


def _too_long(label: str, seconds: float) -> AudioError:
    return AudioError(f"{label} lasts {seconds:.0f} s, over the {MAX_DURATION_S // 60} min limit",
                      fix="cut the recording to 10 minutes or less")


def _decode(src: Path, label: str) -> AudioSegment:
    try:
        # duration bounds what ffmpeg decodes when the probe could not tell the length.
        return AudioSegment.from_file(str(src), duration=MAX_DURATION_S + 1)
    except (CouldntDecodeError, IndexError, KeyError, EOFError, ValueError, OSError) as exc:
        # pydub raises IndexError/KeyError when ffprobe finds no audio stream at all.
        raise AudioError(f"{label} is not readable audio ({type(exc).__name__})",
                         fix="give a WAV, MP3 or OGG file that ffmpeg can decode") from exc


def _to_telephone_format(segment: AudioSegment, label: str) -> AudioSegment:
    buf = io.BytesIO()
    try:
        segment.export(buf, format="wav",
                       parameters=["-ac", "1", "-ar", str(SAMPLE_RATE), "-sample_fmt", "s16"])
    except CouldntDecodeError as exc:  # pydub reports any ffmpeg failure this way
        raise AudioError(f"{label}: ffmpeg could not convert it ({exc})".splitlines()[0],
                         fix="check that ffmpeg works: ffmpeg -version") from exc
    buf.seek(0)
    out = AudioSegment.from_wav(buf)
    assert (out.channels, out.frame_rate, out.sample_width) == (1, SAMPLE_RATE, SAMPLE_WIDTH)
    return out


def find_asset(session: Session, name: str) -> AudioAsset | None:
    """The prompt called *name*, or None.

    Example: ``find_asset(s, "message")`` -> AudioAsset or None.
    """
    return session.scalar(select(AudioAsset).where(AudioAsset.name == name))


def get_asset(session: Session, name: str) -> AudioAsset:
    """The prompt called *name*; NotFound (naming the fix) when there is none.

    Example: ``get_asset(s, "notice").duration_ms`` -> 17200
    """
    asset = find_asset(session, name)
    if asset is None:
        raise NotFound(f"no audio named {name!r}",
                       fix=f"import it: sc-asterisk audio import FILE --name {name}")
    return asset


def list_assets(session: Session) -> list[AudioAsset]:
    """All prompts, by name.

    Example: ``[a.name for a in list_assets(s)]`` -> ["message", "notice"]
    """
    return list(session.scalars(select(AudioAsset).order_by(AudioAsset.name)))


def import_audio(session: Session, path: str | os.PathLike, name: str,
                 replace: bool = False) -> AudioAsset:
    """Convert *path* and store it as the prompt *name*; returns the stored AudioAsset.

    Importing identical content again under the same name changes nothing. Different content
    under a taken name is refused unless ``replace=True``, which keeps the asset's id so the
    campaigns using it play the new recording.

    Example::

        with db.session() as s:
            asset = import_audio(s, "message.mp3", "message")
    """
    validate_name(name)
    audio = convert(path)  # before touching the database: a bad file stores nothing
    source = Path(path).name[:255]
    asset = find_asset(session, name)
    if asset is not None:
        if asset.sha256 == audio.sha256:
            return asset
        if not replace:
            raise AudioError(f"audio {name!r} already exists with other content",
                             fix="pass --replace to overwrite it, or choose another --name")
    else:
        asset = AudioAsset(name=name)
        session.add(asset)
    asset.data = audio.wav_bytes
    asset.sha256 = audio.sha256
    asset.duration_ms = audio.duration_ms
    asset.sample_rate = SAMPLE_RATE
    asset.source_filename = source
    session.flush()
    return asset


def file_stem(asset: AudioAsset) -> str:
    """The published file name without extension: content-addressed, so a replaced prompt gets
    a new file and calls already playing the old one are not disturbed.

    Example: ``file_stem(asset)`` -> "sc-3f9a0c1d2e4b5a69"
    """
    return stem_of(asset.sha256)


def stem_of(sha256: str) -> str:
    """:func:`file_stem` from the content's digest alone (no audio loaded).

    Example: ``stem_of("3f9a0c1d2e4b5a69...")`` -> "sc-3f9a0c1d2e4b5a69"
    """
    return f"{FILE_PREFIX}{sha256[:16]}"


def publish(asset: AudioAsset, directory: str | os.PathLike) -> Path:
    """Write the prompt as ``<directory>/sc-<sha256[:16]>.wav`` atomically, with the same
    samples in G.711 beside it (``.alaw``, ``.ulaw``); returns the ``.wav``'s path.

    Asterisk plays the file whose format costs least to send on the channel: an A-law or
    µ-law call is sent the G.711 file's bytes as they are, instead of every frame of the WAV
    being encoded during the call. Same samples, same ``endpos``: what is measured does not
    change. Files already there with the expected sizes are left alone, so publishing is
    cheap to repeat.

    Example: ``publish(asset, "/var/lib/asterisk/sounds/sc")`` -> Path(".../sc-3f9a0c1d2e4b5a69.wav")
    """
    target_dir = Path(directory)
    stem = file_stem(asset)
    target = target_dir / f"{stem}.wav"
    data = asset.data
    try:
        if target.stat().st_size == len(data):
            samples = _samples(asset)
            expected = {target_dir / f"{stem}.{fmt}": len(samples) // SAMPLE_WIDTH
                        for fmt in G711}
            if all(_size(path) == size for path, size in expected.items()):
                return target
    except FileNotFoundError:
        pass
    if hashlib.sha256(data).hexdigest() != asset.sha256:
        raise AudioError(f"audio {asset.name!r}: stored bytes do not match their sha256",
                         fix=f"import it again: sc-asterisk audio import FILE --name {asset.name} --replace")
    samples = _samples(asset)
    target_dir.mkdir(parents=True, exist_ok=True)
    # The G.711 files first: when the .wav is there, the whole prompt is (the check above).
    for fmt, encode in G711.items():
        atomic_write(target_dir / f"{stem}.{fmt}", encode(samples, SAMPLE_WIDTH), 0o644)
    atomic_write(target, data, 0o644)  # Asterisk runs as its own user and must read it
    return target


def _samples(asset: AudioAsset) -> bytes:
    """The 16-bit samples of a stored prompt (mono, 8 kHz: what ``convert`` makes)."""
    try:
        with wave.open(io.BytesIO(asset.data)) as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == \
                    (1, SAMPLE_WIDTH, SAMPLE_RATE):
                return wav.readframes(wav.getnframes())
    except (EOFError, wave.Error):
        pass
    raise AudioError(f"audio {asset.name!r}: the stored prompt is not 8 kHz mono 16-bit WAV",
                     fix=f"import it again: sc-asterisk audio import FILE --name {asset.name} "
                         "--replace")


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def asterisk_name(asset: AudioAsset, asterisk_dir: str | os.PathLike) -> str:
    """The name STREAM FILE wants: the published file's path as Asterisk sees it, no extension.

    *asterisk_dir* is the publication directory seen from the Asterisk node (it may differ from
    the path the controller wrote to, e.g. a mounted volume).

    Example: ``asterisk_name(asset, "/var/lib/asterisk/sounds/sc")`` -> "/var/lib/asterisk/sounds/sc/sc-3f9a0c1d2e4b5a69"
    """
    return str(PurePosixPath(str(asterisk_dir)) / file_stem(asset))
