"""The TCP tools (tcplife, tcpaccept, tcpretrans, tcpdrop, tcpsynbl) on connections over
127.0.0.1 and ::1 that the test's child makes, checked line by line."""

from __future__ import annotations

import re
import sys

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

# A server thread accepts one connection, reads 300000 bytes, answers with
# 100000 and closes; the script prints both ports on stderr.
EXCHANGE = """
import socket, sys, threading
host = sys.argv[1]
srv = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
srv.bind((host, 0)); srv.listen()
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept()
    n = 0
    while n < 300000:
        d = c.recv(65536)
        if not d: break
        n += len(d)
    c.sendall(b"y" * 100000)
    c.close()
t = threading.Thread(target=serve); t.start()
s = socket.create_connection((host, port))
s.sendall(b"x" * 300000)
while s.recv(65536): pass
client = s.getsockname()[1]
s.close(); t.join()
print("PORTS", port, client, file=sys.stderr)
"""

# The listener's accept queue (backlog 0) holds the first connection; the
# second one's SYN is dropped and sent again after a second.
RETRANSMIT = """
import socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(0)
port = srv.getsockname()[1]
first = socket.create_connection(("127.0.0.1", port))
time.sleep(0.1)
late = socket.socket(); late.setblocking(False)
late.connect_ex(("127.0.0.1", port))
time.sleep(1.5)
print("PORTS", port, late.getsockname()[1], file=sys.stderr)
"""

# A raw socket sends the server's socket a segment far outside its receive
# window, which TCP drops (TCP_INVALID_SEQUENCE).
OUT_OF_WINDOW = """
import socket, struct, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port))
a, _ = srv.accept()
cport = c.getsockname()[1]
def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
hdr = struct.pack("!HHIIBBHHH", cport, port, 12345, 1, 5 << 4, 0x10, 1024, 0, 0)
pseudo = socket.inet_aton("127.0.0.1") * 2 + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr))
hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).sendto(hdr, ("127.0.0.1", 0))
time.sleep(0.2)
print("PORTS", port, cport, file=sys.stderr)
"""


def run(e2e, tmp_path, tool: str, script: str, *args: str) -> tuple[list[str], int, int]:
    path = tmp_path / "work.py"
    path.write_text(script)
    r = e2e.run_cli(tool, "-c", " ".join([sys.executable, str(path), *args]), timeout=60)
    assert r.returncode == 0, r.stderr
    m = re.search(r"PORTS (\d+) (\d+)", r.stderr)
    assert m, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    return lines, int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcplife_shows_both_ends_with_their_bytes(e2e, tmp_path, host):
    out, port, client = run(e2e, tmp_path, "tcplife", EXCHANGE, host)
    assert out[0].split() == ["PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB", "MS"], out
    rows = {(int(f[3]), int(f[5])): f for f in (l.split() for l in out[1:]) if len(f) == 9}
    client_row, server_row = rows.get((client, port)), rows.get((port, client))
    assert client_row and server_row, out
    assert client_row[2] == client_row[4] == host
    # 300000 bytes is 292 KiB and 100000 is 97 KiB
    assert client_row[6:8] == ["292", "97"] and server_row[6:8] == ["97", "292"], out


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcpaccept_shows_the_accepted_connection(e2e, tmp_path, host):
    out, port, client = run(e2e, tmp_path, "tcpaccept", EXCHANGE, host)
    assert out[1].split() == ["TIME", "PID", "COMM", "RADDR", "RPORT", "LADDR", "LPORT", "BL"], out
    rows = [l.split()[2:] for l in out[2:]]
    assert [rows[0][0][:6]] + rows[0][1:] == ["python", host, str(client), host, str(port), "0/128"], out


def test_tcpretrans_shows_a_resent_syn(e2e, tmp_path):
    out, port, client = run(e2e, tmp_path, "tcpretrans", RETRANSMIT)
    assert out[1].split() == ["TIME", "PID", "LADDR:LPORT", "RADDR:RPORT", "STATE"], out
    rows = [l.split()[2:] for l in out[2:]]
    assert [f"127.0.0.1:{client}", f"127.0.0.1:{port}", "SYN_SENT"] in rows, out


def test_tcpdrop_shows_the_dropping_socket_and_stack(e2e, tmp_path):
    out, port, client = run(e2e, tmp_path, "tcpdrop", OUT_OF_WINDOW)
    assert out[1].split() == ["TIME", "PID", "COMM", "SADDR:SPORT", "DADDR:DPORT", "STATE"], out
    at = [i for i, l in enumerate(out) if l.split()[-3:] == [f"127.0.0.1:{port}", f"127.0.0.1:{client}", "ESTABLISHED"]]
    assert at, out
    stack = [l.strip() for l in out[at[0] + 1:at[0] + 8]]
    assert any(f.startswith("tcp_validate_incoming+") for f in stack), out


def test_tcpsynbl_shows_the_queue_filling(e2e):
    # a queue limit of its own (37) tells this listener from others
    code = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(37); "
            "c = [socket.create_connection(s.getsockname()) for _ in range(3)]")
    r = e2e.run_cli("tcpsynbl", "-c", f"{sys.executable} -c \"{code}\"", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Tracing SYN backlog size. Ctrl-C to end.\n"), r.stdout
    assert "\n@backlog[backlog limit]: histogram of backlog size\n" in r.stdout
    hist = r.stdout.split("@backlog[37]:\n")[1].split("\n\n")[0].splitlines()
    # the connections found 0, 1 and 2 others waiting to be accepted
    rows = [re.match(r"(\[.*?[)\]])\s+(\d+) \|", l).groups() for l in hist]
    assert rows == [("[0]", "1"), ("[1]", "1"), ("[2, 4)", "1")], r.stdout
