"""RTP captures for SIPp's play_pcap_audio: G.711, the pcap writer, and the shipped speech."""
import array
import shutil
import struct
import subprocess
import warnings

import pytest

from sc_asterisk.errors import ConfigError
from sc_asterisk.lab.pcap import (MEDIA_DIR, SPEECHES, build_media, g711_decode, g711_encode,
                                  read_rtp, wav_to_pcap, write_pcap)

AMD_SILENCE_THRESHOLD = 256       # amd.conf silence_threshold
AMD_AFTER_GREETING_MS = 800       # amd.conf after_greeting_silence
AMD_BETWEEN_WORDS_MS = 50         # amd.conf between_words_silence


def voiced(packets) -> list[int]:
    """Indexes of the 20 ms frames AMD would hear as voice."""
    return [i for i, p in enumerate(packets)
            if max(map(abs, g711_decode(p.payload))) > AMD_SILENCE_THRESHOLD]


def longest_gap_ms(indexes) -> int:
    return max([b - a - 1 for a, b in zip(indexes, indexes[1:])] + [0]) * 20


def every_sample() -> bytes:
    return array.array("h", range(-32768, 32768)).tobytes()


@pytest.mark.parametrize("codec", ["alaw", "ulaw"])
def test_g711_matches_the_reference_codec_for_every_sample(codec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    encode = audioop.lin2alaw if codec == "alaw" else audioop.lin2ulaw
    decode = audioop.alaw2lin if codec == "alaw" else audioop.ulaw2lin
    assert g711_encode(every_sample(), codec) == encode(every_sample(), 2)
    codes = bytes(range(256))
    assert g711_decode(codes, codec) == list(array.array("h", decode(codes, 2)))


def test_g711_silence_and_unknown_codec():
    assert g711_encode(b"\0\0" * 4, "alaw") == b"\xd5" * 4
    assert g711_encode(b"\0\0" * 4, "ulaw") == b"\xff" * 4
    with pytest.raises(ConfigError, match="unknown G.711 codec"):
        g711_encode(b"\0\0", "g729")


def _checksum_ok(data: bytes) -> bool:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_pcap_is_one_rtp_stream_of_20ms_frames_with_valid_headers(tmp_path):
    path = tmp_path / "one.pcap"
    pcm = array.array("h", [1000, -1000] * 4000 + [0] * 10).tobytes()  # 1 s and 10 samples
    assert write_pcap(path, pcm, "alaw", ssrc=0x1234) == 51  # the last frame is padded
    data = path.read_bytes()
    assert struct.unpack("<IHHiIII", data[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    packets = read_rtp(path)
    assert [p.seq - packets[0].seq for p in packets] == list(range(51))
    assert [p.timestamp for p in packets] == [160 * n for n in range(51)]
    assert [round((p.at - packets[0].at) * 1000) for p in packets] == [20 * n for n in range(51)]
    assert {(p.payload_type, p.ssrc, len(p.payload)) for p in packets} == {(8, 0x1234, 160)}
    assert [p.marker for p in packets[:2]] == [True, False]
    assert packets[-1].payload[10:] == b"\xd5" * 150
    # the first frame's IPv4 header and UDP checksum (over the pseudo-header) are valid
    frame = data[24 + 16:24 + 16 + struct.unpack("<I", data[24 + 8:24 + 12])[0]]
    ip, udp = frame[14:34], frame[34:]
    assert _checksum_ok(ip)
    assert _checksum_ok(ip[12:20] + struct.pack("!BBH", 0, 17, len(udp)) + udp)


def test_wav_to_pcap_adds_the_silences_and_refuses_a_wrong_wav(tmp_path):
    sox = shutil.which("sox") or pytest.skip("sox is not installed")
    wav = tmp_path / "beep.wav"
    subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "0.5",
                    "sine", "800"], check=True)
    assert wav_to_pcap(wav, tmp_path / "beep.pcap", lead_ms=200, tail_ms=1000) == 85
    heard = voiced(read_rtp(tmp_path / "beep.pcap"))
    assert (heard[0], heard[-1]) == (10, 34)
    wide = tmp_path / "wide.wav"
    subprocess.run([sox, "-n", "-r", "16000", "-c", "1", "-b", "16", str(wide), "synth", "0.1",
                    "sine", "800"], check=True)
    with pytest.raises(ConfigError) as err:
        wav_to_pcap(wide, tmp_path / "wide.pcap")
    assert "16000 Hz" in str(err.value) and err.value.fix.startswith("convert it: sox")


def test_machine_greeting_is_long_continuous_speech_then_silence():
    packets = read_rtp(MEDIA_DIR / "greeting-machine.pcap")
    heard = voiced(packets)
    assert {p.payload_type for p in packets} == {8}
    assert 180 <= heard[0] * 20 <= 300                  # it answers, then speaks at once
    assert (heard[-1] + 1 - heard[0]) * 20 >= 5500      # ~5.6 s of speech and a beep
    assert longest_gap_ms(heard) < AMD_AFTER_GREETING_MS
    assert (len(packets) - 1 - heard[-1]) * 20 >= 1400  # then silence, still sent
    assert len(packets) * 20 >= 5000                     # AMD's whole analysis hears frames


def test_human_says_one_short_word_then_waits():
    packets = read_rtp(MEDIA_DIR / "hello-human.pcap")
    heard = voiced(packets)
    assert {p.payload_type for p in packets} == {8}
    assert 400 <= (heard[-1] + 1 - heard[0]) * 20 <= 800
    assert longest_gap_ms(heard) < AMD_BETWEEN_WORDS_MS  # one word for AMD
    assert (len(packets) - 1 - heard[-1]) * 20 >= 4000
    assert packets[0].ssrc != read_rtp(MEDIA_DIR / "greeting-machine.pcap")[0].ssrc


def test_the_generator_rebuilds_the_shipped_captures(tmp_path):
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox build the captures")
    built = build_media(tmp_path)
    assert sorted(built) == sorted(s.name for s in SPEECHES)
    for name, path in built.items():
        fresh, shipped = read_rtp(path), read_rtp(MEDIA_DIR / f"{name}.pcap")
        assert abs(len(fresh) - len(shipped)) <= 2
        assert abs(voiced(fresh)[-1] - voiced(shipped)[-1]) <= 3
