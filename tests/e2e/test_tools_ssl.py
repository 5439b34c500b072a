"""sslsnoop and ssllatency see the TLS handshakes of a Python child that
is both server and client of one connection over 127.0.0.1."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from bpfscope.elf import SymbolTable, resolve_library

pytestmark = pytest.mark.usefixtures("kernel")

# Python's ssl module calls SSL_do_handshake on each side.
HANDSHAKE = """
import socket, ssl, sys, threading
cert, key = sys.argv[1:3]
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); server_side.load_cert_chain(cert, key)
def serve():
    c, _ = srv.accept()
    with server_side.wrap_socket(c, server_side=True) as s:
        s.recv(5)
t = threading.Thread(target=serve); t.start()
client_side = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); client_side.load_verify_locations(cert)
with client_side.wrap_socket(socket.create_connection(srv.getsockname()), server_hostname="localhost") as s:
    s.sendall(b"hello")
t.join()
"""


@pytest.fixture(scope="module")
def handshake(tmp_path_factory, kernel) -> str:
    """The -c command of the child."""
    openssl = shutil.which("openssl")
    lib = resolve_library("libssl", None)
    if openssl is None or lib is None or SymbolTable(lib).lookup_one("SSL_do_handshake") is None:
        pytest.skip("needs the openssl command and libssl with SSL_do_handshake")
    try:
        import ssl  # noqa: F401
    except ImportError:
        pytest.skip("this Python has no ssl module")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    (d / "tls.py").write_text(HANDSHAKE)
    return f"{sys.executable} {d / 'tls.py'} {d / 'cert.pem'} {d / 'key.pem'}"


def test_sslsnoop_shows_both_handshakes(e2e, handshake):
    r = e2e.run_cli("sslsnoop", "-c", handshake, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:2] == ["Tracing SSL/TLS handshake... Hit Ctrl-C to end.",
                       "TIME(us)   TID      COMM     LAT(us)   RET FUNC"], out
    rows = [l.split() for l in out[2:] if l.endswith(" SSL_do_handshake")]
    # one per side, from two threads of the child, both succeeding
    assert len(rows) == 2 and {r[4] for r in rows} == {"1"} and rows[0][1] != rows[1][1], out
    assert all(r[2].startswith("python") and r[3].isdigit() for r in rows), out


def test_ssllatency_counts_the_handshakes(e2e, handshake):
    r = e2e.run_cli("ssllatency", "-c", handshake, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Latency distribution in microsecond:" in r.stdout
    m = re.search(r"^@stat\[SSL_do_handshake\]: \{ \.count = (\d+), \.average = \d+, \.total = \d+ \}$",
                  r.stdout, re.M)
    assert m and m.group(1) == "2", r.stdout
    assert "@hist[SSL_do_handshake]:" in r.stdout, r.stdout
