"""sslsniff's libraries, script and bcc's layout of what it captured."""

from __future__ import annotations

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import sslsniff
from bpfscope.toolcmds.common import ToolError, ToolSink


@pytest.fixture
def libs(monkeypatch, tmp_path):
    """libssl at /l/libssl.so.3, no GnuTLS and no NSS; a file for --extra-lib."""
    found = {"libssl": "/l/libssl.so.3"}
    extra = tmp_path / "libssl.so.1.1"
    extra.write_bytes(b"")
    monkeypatch.setattr(sslsniff, "resolve_library",
                        lambda name, pid=None: found.get(name) or
                        (name if name == str(extra) else None))
    return str(extra)


def plan(*argv):
    return sslsniff.build(sslsniff.parser().parse_args(list(argv)))


def test_probes_of_the_libraries_found(libs):
    text = plan("-u", "1000", "-c", "curl").text
    assert "max_strlen = 8192" in text
    assert 'uprobe:"/l/libssl.so.3":SSL_write,\nuprobe:"/l/libssl.so.3":SSL_read ' \
        '/uid == 1000 && comm == "curl"/ {' in text
    assert 'uprobe:"/l/libssl.so.3":SSL_write_ex,\nuprobe:"/l/libssl.so.3":SSL_read_ex ' in text
    assert "$len = retval == 1 ? *(uint64 *)@__n[tid] : 0;" in text
    assert "gnutls" not in text and "PR_" not in text and "SSL_do_handshake" not in text
    api.check_syntax(text)
    text = plan("-o", "--extra-lib", f"openssl:{libs}", "-l", "--handshake",
                "--max-buffer-size", "100").text
    assert "/l/libssl" not in text and f'uretprobe:"{libs}":SSL_do_handshake' in text
    assert "$len > 100 ? 100 : $len" in text
    api.check_syntax(text)


def test_no_library_or_a_missing_extra_one_is_an_error(libs):
    with pytest.raises(ToolError, match="none of the TLS libraries"):
        plan("-o")
    with pytest.raises(ToolError, match="--extra-lib gnutls:/no/lib.so: no such file"):
        plan("--extra-lib", "gnutls:/no/lib.so")
    for bad in (["--extra-lib", "tls:/x"], ["--max-buffer-size", "100000"], ["-p", "0"]):
        with pytest.raises(SystemExit):
            plan(*bad)


def _printed(p, *records):
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    for r in records:
        sink.printf("\x1e" + "\x1f".join(map(str, r)) + "\n")
    return out.getvalue()


def test_data_as_bcc_shows_it(libs):
    p = plan("-x", "-l", "--max-buffer-size", "4")
    assert p.banner == "FUNC         TIME(s)            COMM             PID     TID     UID     " \
        "LEN    LAT(ms)\n"
    hi = "GET\n".encode().hex(" ")
    assert _printed(p, ("ssl", "WRITE/SEND", 10**9, "curl", 7, 8, 0, 4, 2500000, hi),
                    ("ssl", "READ/RECV", 10**9 + 5 * 10**8, "curl", 7, 8, 0, 9, 0, "48 54 54 50")) \
        == ("WRITE/SEND   0.000000000        curl             7       8       0       4      "
            "2.500  \n----- DATA -----\nGET\n\n----- END DATA -----\n\n"
            "READ/RECV    0.500000000        curl             7       8       0       9      "
            "0.000  \n----- DATA -----\nHTTP\n----- END DATA (TRUNCATED, 5 bytes lost) -----\n\n")
    p = plan("--hexdump")
    assert _printed(p, ("ssl", "READ/RECV", 5, "a", 1, 1, 0, 20, 0, " ".join(["ab"] * 20))) \
        .split("\n")[2:4] == ["ab" * 16, "ab" * 4]
