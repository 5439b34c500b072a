"""What a new user tries first: the plaintext of TLS writes, read with
uprobe:libssl:SSL_write and str(buf, len) (a length known only as the
probe runs), while openssl s_client talks to a local s_server."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from bpfscope.elf import SymbolTable, resolve_library


@pytest.fixture(scope="module")
def server(tmp_path_factory, kernel):
    openssl = shutil.which("openssl")
    lib = resolve_library("libssl", None)
    if openssl is None or lib is None or SymbolTable(lib).lookup_one("SSL_write") is None:
        pytest.skip("needs the openssl command and libssl with SSL_write")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen([openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-naccept",
                            "1", "-cert", str(d / "cert.pem"), "-key",
                            str(d / "key.pem")], stdin=subprocess.PIPE,  # EOF would end it
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # s_server says ACCEPT once it listens
    for line in srv.stdout:
        if line.startswith("ACCEPT"):
            break
    yield port
    srv.kill()
    srv.wait()
    srv.stdin.close()
    srv.stdout.close()


def test_ssl_write_plaintext(e2e, server):
    r = e2e.run_cli("-q", "-e", 'uprobe:libssl:SSL_write /arg2 > 0/ '
                    '{ printf("%d [%s]\\n", arg2, str(arg1, arg2)); }',
                    "-c", f"openssl s_client -connect 127.0.0.1:{server} -quiet -no_ign_eof",
                    input="secret line\nmore", timeout=60)
    assert r.returncode == 0, r.stderr
    # s_client reads its input (16 bytes, written at once) in one go
    assert r.stdout.rstrip("\n") == "16 [secret line\nmore]", r.stdout
