"""A TLS front for a lab callee: Debian's SIPp is built without TLS, so a TLS trunk's calls
reach a SIPp callee listening on TCP through this relay, which ends TLS with a certificate
the lab makes (``make_certificate``). The bytes are relayed unchanged both ways, so SIPp's log
stays the ground truth of each call.

Example::

    cert, key = make_certificate(tmp_path)
    with TlsFront(cert, key, listen_port=25071, target_port=25070) as front:
        ...  # Asterisk's TLS trunk dials sip:NUMBER@127.0.0.1:25071;transport=tls
    front.handshakes  # TLS sessions accepted
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

from ..errors import LabError


def make_certificate(directory: Path, name: str = "lab-tls", host: str = "127.0.0.1"
                     ) -> tuple[Path, Path]:
    """A self-signed certificate (EC P-256, one day) for *host*, and its key (mode 0600).

    Example: ``cert, key = make_certificate(tmp_path)``
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
         "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"openssl could not make a certificate: {done.stderr.strip()[-200:]}",
                       fix="apt-get install openssl")
    key.chmod(0o600)
    return cert, key


class TlsFront:
    """Accept TLS on *listen_port*, relay each connection to TCP *target_port* (threads)."""

    def __init__(self, cert: Path, key: Path, listen_port: int, target_port: int,
                 host: str = "127.0.0.1"):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(str(cert), str(key))
        self.host, self.listen_port, self.target_port = host, listen_port, target_port
        self.handshakes = 0
        self.versions: list[str] = []
        # What the TLS client sent, decrypted (the first 256 KiB): a test reads the SDP offer.
        self.received = bytearray()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._closing = False

    def __enter__(self) -> "TlsFront":
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.host, self.listen_port))
        except OSError as err:
            server.close()
            raise LabError(f"TCP {self.host}:{self.listen_port} is in use ({err.strerror})",
                           fix="stop what listens there or pick another port") from err
        server.listen(8)
        self._server = server
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc) -> None:
        self._closing = True
        for sock in [self._server, *self._sockets]:
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                raw, _addr = self._server.accept()
            except OSError:
                return
            try:
                tls = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            self.handshakes += 1
            self.versions.append(tls.version() or "?")
            try:
                plain = socket.create_connection((self.host, self.target_port), timeout=5)
            except OSError:
                tls.close()
                continue
            plain.settimeout(None)
            self._sockets += [tls, plain]
            self._spawn(_pump, tls, plain, self.received)
            self._spawn(_pump, plain, tls, None)


def _pump(source: socket.socket, sink: socket.socket, keep: bytearray | None) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if keep is not None and len(keep) < 1 << 18:
                keep.extend(data)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
