"""The audio room: conversion to Asterisk's 8 kHz WAV, storage, publication, shipped prompts.

Outputs are checked with the standard ``wave`` module and numpy, not with pydub, so the tests do not
trust the code they test to measure itself.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from pydub import AudioSegment
from pydub.generators import Sine
from sqlalchemy import func, select

from sc_asterisk import audio
from sc_asterisk.audio import (PEAK_CEILING_DBFS, TARGET_DBFS, AudioError, asterisk_name, convert,
                               import_audio, ms_to_samples, publish, samples_to_ms)
from sc_asterisk.db import AudioAsset, Database
from sc_asterisk.errors import NotFound, ScError
from sc_asterisk.paths import SOUNDS_DIR

SPEECH = SOUNDS_DIR / "optout-intro.wav"


def read_wav(data: bytes) -> tuple:
    with wave.open(io.BytesIO(data)) as w:
        return w.getparams(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def rms_dbfs(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) / 32768)


def peak_dbfs(samples: np.ndarray) -> float:
    return 20 * np.log10(np.max(np.abs(samples.astype(np.float64))) / 32768)


@pytest.fixture(scope="module")
def stereo_speech() -> AudioSegment:
    """Real speech as a stereo 44.1 kHz recording, 12 dB under the target, channels unequal."""
    mono = AudioSegment.from_wav(SPEECH).apply_gain(-12)
    buf = io.BytesIO()
    AudioSegment.from_mono_audiosegments(mono, mono.apply_gain(-6)).export(
        buf, format="wav", parameters=["-ar", "44100"])
    buf.seek(0)
    seg = AudioSegment.from_wav(buf)
    assert (seg.channels, seg.frame_rate) == (2, 44100)
    return seg


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'audio.db'}")
    database.upgrade()
    return database


def write_speech(stereo_speech: AudioSegment, path: Path, fmt: str) -> Path:
    stereo_speech.export(path, format=fmt)
    return path


# --- conversion -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg"])
def test_convert_any_format_to_mono_16bit_8khz_normalised(tmp_path, stereo_speech, fmt):
    src = write_speech(stereo_speech, tmp_path / f"speech.{fmt}", fmt)

    result = convert(src)

    params, samples = read_wav(result.wav_bytes)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 8000)
    assert result.wav_bytes[:4] == b"RIFF" and result.wav_bytes[8:12] == b"WAVE"
    # Duration within one output frame (sample) of the 44.1 kHz source.
    expected_samples = stereo_speech.frame_count() * 8000 / 44100
    assert abs(params.nframes - expected_samples) <= 1
    assert result.duration_ms == params.nframes * 1000 // 8000
    assert abs(rms_dbfs(samples) - TARGET_DBFS) <= 1.0
    assert peak_dbfs(samples) <= PEAK_CEILING_DBFS + 0.01
    assert re.fullmatch(r"[0-9a-f]{64}", result.sha256)


def test_convert_is_deterministic(tmp_path, stereo_speech):
    src = write_speech(stereo_speech, tmp_path / "speech.wav", "wav")
    assert convert(src).sha256 == convert(src).sha256


def test_resampling_filters_out_content_above_4khz(tmp_path):
    # A 6 kHz tone must not fold back to 2 kHz (8000 - 6000) the way naive decimation does.
    wanted = Sine(500, sample_rate=44100).to_audio_segment(duration=1000, volume=-12)
    unwanted = Sine(6000, sample_rate=44100).to_audio_segment(duration=1000, volume=-12)
    src = tmp_path / "tones.wav"
    wanted.overlay(unwanted).set_sample_width(2).export(src, format="wav")

    _, samples = read_wav(convert(src).wav_bytes)

    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    level_500 = spectrum[np.abs(freqs - 500) < 20].max()
    alias_2000 = spectrum[np.abs(freqs - 2000) < 20].max()
    assert 20 * np.log10(alias_2000 / level_500) < -40


def test_peaky_recording_keeps_peaks_under_ceiling_rather_than_reaching_target(tmp_path):
    quiet = Sine(440, sample_rate=8000).to_audio_segment(duration=2000, volume=-40)
    burst = Sine(440, sample_rate=8000).to_audio_segment(duration=10, volume=-3)
    src = tmp_path / "peaky.wav"
    quiet.overlay(burst, position=1000).set_sample_width(2).export(src, format="wav")

    result = convert(src)

    _, samples = read_wav(result.wav_bytes)
    assert abs(peak_dbfs(samples) - PEAK_CEILING_DBFS) < 0.1
    assert rms_dbfs(samples) < TARGET_DBFS - 3
    assert abs(result.dbfs - rms_dbfs(samples)) < 0.1


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (os.urandom(4096), "is not readable audio"),
    (b"name,phone\nAlice,+33612345678\n", "is not readable audio"),
])
def test_unreadable_files_give_one_line_error_naming_the_fix(tmp_path, content, message):
    src = tmp_path / "prompt.wav"
    src.write_bytes(content)
    with pytest.raises(AudioError, match=message) as err:
        convert(src)
    assert err.value.fix and "\n" not in err.value.one_line()


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        convert(tmp_path / "absent.mp3")
    with pytest.raises(AudioError, match="not a file"):
        convert(tmp_path)


def test_silent_file_is_refused(tmp_path):
    src = tmp_path / "silence.wav"
    AudioSegment.silent(duration=2000, frame_rate=8000).export(src, format="wav")
    with pytest.raises(AudioError, match="silent"):
        convert(src)


def test_file_over_ten_minutes_is_refused(tmp_path):
    src = tmp_path / "long.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 8000 * 601)
    with pytest.raises(AudioError, match="10 min limit"):
        convert(src)


# --- sample offsets -----------------------------------------------------------------------------

@pytest.mark.parametrize("samples, ms", [(35040, 4380), (0, 0), (7, 0), (8, 1), (8000, 1000)])
def test_samples_to_ms_at_8khz(samples, ms):
    assert samples_to_ms(samples) == ms


def test_sample_conversions_other_rate_and_round_trip():
    assert samples_to_ms(16000, rate=16000) == 1000
    assert ms_to_samples(4380) == 35040
    assert ms_to_samples(1000, rate=16000) == 16000
    assert all(samples_to_ms(ms_to_samples(ms)) == ms for ms in range(0, 5000, 7))


@pytest.mark.parametrize("call", [lambda: samples_to_ms(-1), lambda: ms_to_samples(-1),
                                  lambda: samples_to_ms(8, rate=0)])
def test_sample_conversions_refuse_nonsense(call):
    with pytest.raises(ValueError):
        call()


# --- names and storage --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "0", "message_2026-v2", "a" * 63])
def test_valid_names(name):
    assert audio.validate_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "Message", "-x", "_x", "a" * 64, "a b", "é", "../x",
                                  "x.wav", "x/y"])
def test_invalid_names(name):
    with pytest.raises(AudioError, match="invalid audio name"):
        audio.validate_name(name)


def count_assets(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(AudioAsset))


def test_import_stores_converted_bytes(db, tmp_path, stereo_speech):
    src = write_speech(stereo_speech, tmp_path / "Intro Finale.mp3", "mp3")
    with db.session() as s:
        asset = import_audio(s, src, "intro")
        asset_id = asset.id
    with db.session() as s:
        stored = audio.get_asset(s, "intro")
        assert stored.id == asset_id
        assert stored.source_filename == "Intro Finale.mp3"
        assert stored.sample_rate == 8000
        params, _ = read_wav(stored.data)
        assert stored.duration_ms == params.nframes * 1000 // 8000
        assert stored.sha256 == convert(src).sha256


def test_reimport_same_content_is_a_no_op(db, tmp_path, stereo_speech):
    src = write_speech(stereo_speech, tmp_path / "speech.wav", "wav")
    with db.session() as s:
        import_audio(s, src, "message")
    with db.session() as s:
        first = audio.get_asset(s, "message")
        first_id, created = first.id, first.created_at
    with db.session() as s:
        again = import_audio(s, src, "message")
        assert (again.id, again.created_at) == (first_id, created)
    assert count_assets(db) == 1


def test_other_content_under_taken_name_needs_replace(db, tmp_path, stereo_speech):
    first = write_speech(stereo_speech, tmp_path / "v1.wav", "wav")
    second = write_speech(stereo_speech[:2000], tmp_path / "v2.wav", "wav")
    with db.session() as s:
        original = import_audio(s, first, "message")
        original_id, original_sha = original.id, original.sha256

    with pytest.raises(AudioError, match="already exists") as err:
        with db.session() as s:
            import_audio(s, second, "message")
    assert "--replace" in err.value.fix
    with db.session() as s:
        assert audio.get_asset(s, "message").sha256 == original_sha

    with db.session() as s:
        replaced = import_audio(s, second, "message", replace=True)
        # Same row, so campaigns pointing at it play the new recording.
        assert replaced.id == original_id
        assert replaced.sha256 != original_sha
        assert replaced.duration_ms == 2000
        assert replaced.source_filename == "v2.wav"
    assert count_assets(db) == 1


def test_garbage_file_stores_nothing(db, tmp_path):
    src = tmp_path / "garbage.mp3"
    src.write_bytes(os.urandom(2048))
    with pytest.raises(AudioError):
        with db.session() as s:
            import_audio(s, src, "message")
    assert count_assets(db) == 0


def test_invalid_name_is_refused_before_reading_the_file(db, tmp_path):
    with pytest.raises(AudioError, match="invalid audio name"):
        with db.session() as s:
            import_audio(s, tmp_path / "absent.wav", "Bad Name")
    assert count_assets(db) == 0


def test_get_asset_names_the_fix_when_missing(db):
    with db.session() as s:
        with pytest.raises(NotFound, match="no audio named 'nope'") as err:
            audio.get_asset(s, "nope")
    assert "audio import" in err.value.fix


# --- publication --------------------------------------------------------------------------------

@pytest.fixture
def asset(db, tmp_path, stereo_speech) -> AudioAsset:
    src = write_speech(stereo_speech, tmp_path / "speech.wav", "wav")
    with db.session() as s:
        return import_audio(s, src, "message")


def test_publish_writes_content_addressed_wav(asset, tmp_path):
    out_dir = tmp_path / "sounds" / "sc"
    path = publish(asset, out_dir)

    assert path == out_dir / f"sc-{asset.sha256[:16]}.wav"
    assert path.read_bytes() == asset.data
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # beside it the same samples in G.711, and no temporary left behind
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{path.stem}.{ext}" for ext in ("wav", "alaw", "ulaw"))


def test_the_g711_files_hold_the_same_samples(asset, tmp_path):
    """One byte a sample (what endpos counts), each decoding to the WAV's sample within
    G.711's quantisation (a step at most 1/16 of the sample's magnitude, plus one unit)."""
    path = publish(asset, tmp_path)
    with wave.open(str(path)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int32)
    for ext, encoding in (("alaw", "a-law"), ("ulaw", "u-law")):
        coded = path.with_suffix(f".{ext}").read_bytes()
        assert len(coded) == len(pcm)
        decoded = np.frombuffer(subprocess.run(       # sox: an independent decoder
            ["sox", "-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1", "-",
             "-t", "raw", "-e", "signed", "-b", "16", "-L", "-"],
            input=coded, capture_output=True, check=True).stdout, dtype="<i2").astype(np.int32)
        assert len(decoded) == len(pcm)
        assert np.all(np.abs(pcm - decoded) <= np.abs(pcm) / 16 + 132)
        assert np.abs(pcm).max() > 1000            # the prompt is not silence


def test_a_prompt_published_before_g711_gets_its_g711_files(asset, tmp_path):
    path = publish(asset, tmp_path)
    for ext in ("alaw", "ulaw"):
        path.with_suffix(f".{ext}").unlink()
    publish(asset, tmp_path)
    assert path.with_suffix(".alaw").stat().st_size == path.with_suffix(".ulaw").stat().st_size > 0


def test_publish_again_leaves_the_file_alone(asset, tmp_path):
    path = publish(asset, tmp_path)
    inode = path.stat().st_ino
    assert publish(asset, tmp_path) == path
    assert path.stat().st_ino == inode


def test_publish_replaces_a_truncated_file(asset, tmp_path):
    target = tmp_path / f"sc-{asset.sha256[:16]}.wav"
    target.write_bytes(asset.data[:100])
    publish(asset, tmp_path)
    assert target.read_bytes() == asset.data


def test_publish_failing_midway_leaves_no_file(asset, tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio.os, "fsync", disk_full)
    with pytest.raises(OSError):
        publish(asset, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_publish_refuses_bytes_that_do_not_match_their_hash(asset, tmp_path):
    asset.data = asset.data[:-1] + bytes([asset.data[-1] ^ 1])
    with pytest.raises(AudioError, match="do not match"):
        publish(asset, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_publish_refuses_stored_bytes_that_are_not_a_prompt(asset, tmp_path):
    """Hash matching, content not what ``convert`` stores: one line naming the fix, no file."""
    asset.data = b"not a wav"
    asset.sha256 = hashlib.sha256(asset.data).hexdigest()
    with pytest.raises(AudioError, match="not 8 kHz mono 16-bit WAV") as err:
        publish(asset, tmp_path / "out")
    assert "audio import" in err.value.fix
    assert not (tmp_path / "out").exists()


def test_asterisk_name_is_the_published_path_without_extension(asset, tmp_path):
    path = publish(asset, tmp_path)
    assert asterisk_name(asset, "/var/lib/asterisk/sounds/sc/") == \
        f"/var/lib/asterisk/sounds/sc/{path.stem}"
    assert asterisk_name(asset, tmp_path) + ".wav" == str(path)


# --- shipped sample prompts ---------------------------------------------------------------------

SHIPPED = {"message": (20, 25), "notice": (15, 20), "optout-intro": (3, 5),
           "optout-confirm": (1.5, 3)}


def test_every_text_has_its_generated_prompt():
    texts = {p.name[: -len(".fr.txt")] for p in SOUNDS_DIR.glob("*.fr.txt")}
    wavs = {p.stem for p in SOUNDS_DIR.glob("*.wav")}
    assert texts == wavs == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_prompts_are_already_in_the_asterisk_format(name):
    params, samples = read_wav((SOUNDS_DIR / f"{name}.wav").read_bytes())
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 8000)
    low, high = SHIPPED[name]
    assert low <= params.nframes / 8000 <= high
    assert abs(rms_dbfs(samples) - TARGET_DBFS) <= 1.0


def test_converting_a_converted_prompt_changes_nothing():
    shipped = SOUNDS_DIR / "notice.wav"
    assert convert(shipped).wav_bytes == shipped.read_bytes()


def test_notice_says_how_to_object_and_where_the_policy_is():
    text = (SOUNDS_DIR / "notice.fr.txt").read_text(encoding="utf-8")
    assert "tapez 9" in text and "exemple point org" in text


def test_audio_errors_are_domain_errors():
    assert issubclass(AudioError, ScError)
