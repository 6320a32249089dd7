"""G.711 RTP captures for SIPp's ``play_pcap_audio``: what the lab's callees say.

SIPp replays a capture's UDP payloads as they are (the RTP header included) at the capture's
pace, from its own media port to the port in the far end's SDP. So a capture made here holds
one RTP stream of 20 ms G.711 frames (160 samples), with consecutive sequence numbers and
timestamps, 20 ms apart in capture time, wrapped in Ethernet/IPv4/UDP as SIPp wants them.

The lab's callees answer with PCMA first (``m=audio ... 8 0 101``) and Asterisk keeps the
answer's order, so the shipped captures are PCMA (payload type 8).

Build the shipped captures (espeak-ng and sox needed; the output is committed)::

    python -m sc_asterisk.lab.pcap            # writes sc_asterisk/lab/media/*.pcap
    python -m sc_asterisk.lab.pcap OUT_DIR    # elsewhere

Or turn any 8 kHz mono 16-bit WAV into a capture::

    wav_to_pcap("hello.wav", "hello.pcap", codec="alaw", lead_ms=200, tail_ms=2000)
"""
from __future__ import annotations

import array
import functools
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path

from sc_asterisk.errors import ConfigError, LabError

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
PAYLOAD_TYPES = {"alaw": 8, "ulaw": 0}
MEDIA_DIR = Path(__file__).resolve().parent / "media"
# SIPp only keeps the ports' offsets from the lowest destination port: the values do not matter.
_SRC = ("127.0.0.1", 6000)
_DST = ("127.0.0.1", 6002)
# A fixed capture start keeps a regenerated capture byte-identical for the same speech.
_EPOCH = 1_700_000_000
_SEQ0 = 1000


# -- G.711 (the ITU reference algorithm; the audioop module is gone in Python 3.13) -----------
_SEG_ENDS = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)
_ALAW_ENDS = tuple(end >> 3 for end in _SEG_ENDS)
_ULAW_ENDS = tuple(end >> 2 for end in _SEG_ENDS)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def _alaw(sample: int) -> int:
    value = sample >> 3  # 13-bit
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _segment(value, _ALAW_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    mantissa = (value >> 1 if seg < 2 else value >> seg) & 0x0F
    return ((seg << 4) | mantissa) ^ mask


def _ulaw(sample: int) -> int:
    value = sample >> 2  # 14-bit
    if value < 0:
        mask, value = 0x7F, -value
    else:
        mask = 0xFF
    value = min(value, 8159) + 0x21  # clip, then the bias (33)
    seg = _segment(value, _ULAW_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


_ENCODERS = {"alaw": _alaw, "ulaw": _ulaw}


@functools.lru_cache(maxsize=None)
def _table(codec: str) -> bytes:
    """One byte per 16-bit sample value, indexed by the value read as unsigned."""
    encode = _ENCODERS[codec]
    return bytes(encode(v - 65536 if v > 32767 else v) for v in range(65536))


def g711_encode(pcm: bytes, codec: str = "alaw") -> bytes:
    """Encode 16-bit little-endian signed PCM as G.711 (one byte per sample).

    Example::

        g711_encode(b"\\x00\\x00" * 160) == b"\\xd5" * 160   # A-law silence
    """
    if codec not in _ENCODERS:
        raise ConfigError(f"unknown G.711 codec {codec!r}", fix="use 'alaw' or 'ulaw'")
    table = _table(codec)
    samples = array.array("H")
    samples.frombytes(pcm[: len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(table.__getitem__, samples))


def _alaw_linear(code: int) -> int:
    code ^= 0x55
    value = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    value += 8 if seg == 0 else 0x108
    if seg > 1:
        value <<= seg - 1
    return value if code & 0x80 else -value


def _ulaw_linear(code: int) -> int:
    code = ~code & 0xFF
    value = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - value if code & 0x80 else value - 0x84


_DECODERS = {"alaw": _alaw_linear, "ulaw": _ulaw_linear}


def g711_decode(payload: bytes, codec: str = "alaw") -> list[int]:
    """Decode G.711 bytes to 16-bit sample values (to measure what a capture says).

    Example::

        max(map(abs, g711_decode(packet.payload))) > 256   # speech, by AMD's threshold
    """
    if codec not in _DECODERS:
        raise ConfigError(f"unknown G.711 codec {codec!r}", fix="use 'alaw' or 'ulaw'")
    decode = _DECODERS[codec]
    return [decode(b) for b in payload]


# -- WAV in --------------------------------------------------------------------------------
def read_wav(path: Path) -> bytes:
    """The 16-bit PCM of an 8 kHz mono 16-bit WAV; ConfigError naming the sox fix otherwise."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wav:
            shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as err:
        raise ConfigError(f"cannot read WAV {path}: {err}",
                          fix="give a PCM WAV file (sox IN -r 8000 -c 1 -b 16 OUT.wav)") from err
    if shape != (SAMPLE_RATE, 1, 2):
        raise ConfigError(f"{path} is {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit",
                          fix=f"convert it: sox {path} -r 8000 -c 1 -b 16 OUT.wav")
    return pcm


# -- pcap out ------------------------------------------------------------------------------
def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def _frame(rtp: bytes, ident: int) -> bytes:
    """Ethernet + IPv4 + UDP around one RTP packet."""
    src, dst = _ip(_SRC[0]), _ip(_DST[0])
    udp_len = 8 + len(rtp)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", _SRC[1], _DST[1], udp_len, 0) + rtp
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF, 0x4000, 64, 17, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    ethernet = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return ethernet + ip + udp


def write_pcap(path: Path, pcm: bytes, codec: str = "alaw", ssrc: int = 0x5C0A5C0A) -> int:
    """Write 16-bit 8 kHz mono PCM as a G.711 RTP capture; return the number of packets.

    The last frame is padded with silence; the first packet has the marker bit (talkspurt).

    Example::

        write_pcap(Path("silence.pcap"), b"\\0\\0" * 8000)  # 1 s: 50 packets
    """
    payload = g711_encode(pcm, codec)
    silence = g711_encode(b"\0\0", codec)
    if len(payload) % FRAME_SAMPLES:
        payload += silence * (FRAME_SAMPLES - len(payload) % FRAME_SAMPLES)
    pt = PAYLOAD_TYPES[codec]
    records = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # 1: Ethernet
    count = len(payload) // FRAME_SAMPLES
    for n in range(count):
        rtp = struct.pack("!BBHII", 0x80, pt | (0x80 if n == 0 else 0), (_SEQ0 + n) & 0xFFFF,
                          n * FRAME_SAMPLES, ssrc)
        frame = _frame(rtp + payload[n * FRAME_SAMPLES:(n + 1) * FRAME_SAMPLES], n)
        usec = n * FRAME_MS * 1000
        records.append(struct.pack("<IIII", _EPOCH + usec // 1_000_000, usec % 1_000_000,
                                   len(frame), len(frame)) + frame)
    Path(path).write_bytes(b"".join(records))
    return count


def wav_to_pcap(wav: Path, pcap: Path, codec: str = "alaw", lead_ms: int = 0,
                tail_ms: int = 0, ssrc: int = 0x5C0A5C0A) -> int:
    """Turn an 8 kHz mono 16-bit WAV into a G.711 RTP capture, with silence around it.

    ``lead_ms`` of silence go before the speech, ``tail_ms`` after: a real phone keeps sending
    RTP while nobody speaks, and Asterisk's AMD() measures the silence it hears.

    Example::

        wav_to_pcap(Path("hello.wav"), Path("hello.pcap"), lead_ms=300, tail_ms=4000)
    """
    pcm = read_wav(wav)
    pad = b"\0\0" * (SAMPLE_RATE // 1000)
    return write_pcap(pcap, pad * lead_ms + pcm + pad * tail_ms, codec, ssrc)


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet of a capture: capture time (s), header fields and payload."""

    at: float
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def read_rtp(path: Path) -> list[RtpPacket]:
    """The RTP packets of an Ethernet/IPv4/UDP capture (as written here, or by tcpdump).

    Example::

        packets = read_rtp(MEDIA_DIR / "hello-human.pcap")
        packets[1].seq - packets[0].seq == 1
    """
    data = Path(path).read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ConfigError(f"{path} is not a little-endian pcap file",
                          fix="give a capture written by this module or by tcpdump -w")
    scale = 1e-6 if magic == 0xA1B2C3D4 else 1e-9
    linktype = struct.unpack("<I", data[20:24])[0]
    link = {1: 14, 113: 16}.get(linktype)  # Ethernet, Linux cooked
    if link is None:
        raise ConfigError(f"{path} has link type {linktype}",
                          fix="capture on an Ethernet-like link (tcpdump -i lo)")
    packets, offset = [], 24
    while offset + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        ip = frame[link:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        rtp = ip[(ip[0] & 0x0F) * 4 + 8:]
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        _, mpt, seq, ts, ssrc = struct.unpack("!BBHII", rtp[:12])
        packets.append(RtpPacket(sec + frac * scale, mpt & 0x7F, bool(mpt & 0x80), seq, ts, ssrc,
                                 rtp[12:]))
    return packets


# -- the shipped captures ------------------------------------------------------------------
@dataclass(frozen=True)
class Speech:
    """One capture the lab ships: what is said, the silence around it, an optional beep."""

    name: str
    text: str
    lead_ms: int
    tail_ms: int
    beep_ms: int = 0
    words_per_minute: int = 175


# The machine speaks ~5.6 s with pauses of 300 ms at most (AMD's after-greeting silence is
# 800 ms by default), then beeps; the human says "Allô ?" as one word of ~0.55 s (espeak's
# default pace says it in 0.28 s) and waits. Each tail of silence lets AMD's default 5 s of
# analysis run on real frames.
SPEECHES = (
    Speech("greeting-machine",
           "Bonjour, vous êtes bien sur le répondeur de Claire et Paul. "
           "Laissez-nous un message après le bip, nous vous rappellerons.",
           lead_ms=200, tail_ms=1500, beep_ms=400),
    Speech("hello-human", "Allô ?", lead_ms=300, tail_ms=4500, words_per_minute=100),
)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LabError(f"{name} not found", fix=f"apt-get install {package}")
    return path


def speak(text: str, out_wav: Path, voice: str = "fr", beep_ms: int = 0,
          words_per_minute: int = 175) -> Path:
    """Say ``text`` with espeak-ng into an 8 kHz mono 16-bit WAV, silence trimmed both ends.

    With ``beep_ms``, a 1 kHz beep follows 300 ms after the speech (an answering machine's).

    Example::

        speak("Allô ?", Path("hello.wav"))
    """
    espeak, sox = _tool("espeak-ng", "espeak-ng"), _tool("sox", "sox")
    # -D -R: no dither and a fixed seed, so the same speech gives the same bytes.
    narrow = ["-D", "-R", "-r", "8000", "-c", "1", "-b", "16"]

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True)

    with tempfile.TemporaryDirectory() as tmp:
        raw, spoken = Path(tmp) / "raw.wav", Path(tmp) / "spoken.wav"
        run(espeak, "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text)
        trim = ["silence", "1", "0.01", "1%", "reverse"]
        run(sox, str(raw), *narrow, str(spoken), *trim, *trim, "gain", "-n", "-3")
        parts = [str(spoken)]
        if beep_ms:
            gap, beep = Path(tmp) / "gap.wav", Path(tmp) / "beep.wav"
            run(sox, "-n", *narrow, str(gap), "trim", "0", "0.3")
            run(sox, "-n", *narrow, str(beep), "synth", f"{beep_ms / 1000}", "sine", "1000",
                "gain", "-6")
            parts += [str(gap), str(beep)]
        run(sox, "-D", "-R", *parts, str(out_wav))
    return Path(out_wav)


def build_media(out_dir: Path = MEDIA_DIR, codec: str = "alaw") -> dict[str, Path]:
    """Write every capture of :data:`SPEECHES` to ``out_dir`` as NAME.pcap.

    Example::

        build_media()  # {'greeting-machine': .../media/greeting-machine.pcap, ...}
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = {}
    with tempfile.TemporaryDirectory() as tmp:
        for speech in SPEECHES:
            wav = speak(speech.text, Path(tmp) / f"{speech.name}.wav", beep_ms=speech.beep_ms,
                        words_per_minute=speech.words_per_minute)
            pcap = out_dir / f"{speech.name}.pcap"
            # Its own SSRC per capture: a test tells the streams apart by it.
            wav_to_pcap(wav, pcap, codec, speech.lead_ms, speech.tail_ms,
                        ssrc=zlib.crc32(speech.name.encode()))
            built[speech.name] = pcap
    return built


def main(argv: list[str] | None = None) -> int:
    """``python -m sc_asterisk.lab.pcap [OUT_DIR]``: build the lab's captures."""
    args = sys.argv[1:] if argv is None else argv
    for name, path in build_media(Path(args[0]) if args else MEDIA_DIR).items():
        packets = read_rtp(path)
        print(f"{path}: {len(packets)} packets, {len(packets) * FRAME_MS / 1000:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
