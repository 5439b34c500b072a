"""What bpftrace 0.26's kprobe tools (tcpaccept, tcplife, undump, capable)
ask of the language, in small scripts of this project's own, each run on a
workload the test causes: a kretprobe's retval cast to ``struct sock *`` and
read with ``.`` through the pointer, ``ntop`` of its addresses and ``bswap``
of its port, ``AF_INET`` and ``TCP_*`` known without headers, a string
cached in a map and compared with ``""``, ``%-10.10s``, a kprobe/kretprobe
pair joined by ``has_key`` predicates with ``buf(ptr, len)`` printed as
``%r``, and a string table keyed by a kprobe argument."""

from __future__ import annotations

import re
import socket
import sys

import pytest

from guestlib import loopback_up, trace

pytestmark = pytest.mark.vmlane


@pytest.fixture(autouse=True, scope="module")
def _loopback():
    loopback_up()


# a loopback TCP session on PORT (the server accepts, reads, answers and
# closes), then a UNIX stream socket pair carrying one line
WORKLOAD = r"""
import socket, sys, threading
port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
def serve():
    c, _ = srv.accept()
    c.recv(100)
    c.sendall(b"x" * 3000)
    c.close()
t = threading.Thread(target=serve)
t.start()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"hello")
while s.recv(5000):
    pass
s.close()
t.join()
a, b = socket.socketpair()
a.sendall(b"Hello, unix\n")
b.recv(100)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(script: str) -> tuple[int, str]:
    port = free_port()
    code, out, err = trace(script, [sys.executable, "-c", WORKLOAD, str(port)])
    assert code == 0, err
    return port, out


def test_kretprobe_sock_fields_ntop_and_bswap():
    port, out = run(r"""
        kretprobe:inet_csk_accept {
          $sk = (struct sock *)retval;
          if ($sk.__sk_common.skc_family == AF_INET || $sk.__sk_common.skc_family == AF_INET6) {
            $dport = bswap($sk.__sk_common.skc_dport);
            printf("accept %s:%d <- %s:%d %d/%d\n",
                   ntop($sk.__sk_common.skc_rcv_saddr), $sk.__sk_common.skc_num,
                   ntop($sk.__sk_common.skc_daddr), $dport,
                   $sk.sk_ack_backlog, $sk.sk_max_ack_backlog);
          }
        }""")
    m = re.search(rf"^accept 127\.0\.0\.1:{port} <- 127\.0\.0\.1:(\d+) \d+/\d+$", out, re.M)
    assert m and int(m.group(1)) not in (0, port), out


def test_tcp_set_state_with_cached_comm_and_enum_names():
    port, out = run(r"""
        kprobe:tcp_set_state {
          $sk = (struct sock *)arg0;
          $new = arg1;
          if ($new == TCP_SYN_SENT || $new == TCP_LAST_ACK) {
            @comm[$sk] = comm;
          }
          if ($new == TCP_CLOSE && $sk->__sk_common.skc_family == AF_INET) {
            $c = @comm[$sk];
            if ($c == "") { $c = "none"; }
            $tp = (struct tcp_sock *)$sk;
            printf("close %-10.10s| %d %d %d\n", $c, $sk->__sk_common.skc_num,
                   bswap($sk->__sk_common.skc_dport), $tp->bytes_received);
            delete(@comm, $sk);
          }
        }
        END { clear(@comm); }""")
    lines = re.findall(r"^close (.{10})\| (\d+) (\d+) (\d+)$", out, re.M)
    ours = [ln for ln in lines if str(port) in (ln[1], ln[2])]
    assert ours, out
    # the client's side: it sent SYN, cached its comm and received 3000
    # bytes, and the server's FIN, which advances rcv_nxt and so counts one
    client = [ln for ln in ours if ln[2] == str(port)]
    assert client and client[0][0].rstrip() != "none" and int(client[0][3]) == 3001, out


def test_recvmsg_pair_has_key_and_buf_as_r():
    _, out = run(r"""
        kprobe:unix_stream_recvmsg { @start[tid] = nsecs; }
        kretprobe:unix_stream_recvmsg { delete(@start, tid); }
        kprobe:skb_copy_datagram_iter /has_key(@start, tid)/ {
          @skbs[tid] = (struct sk_buff *)arg0;
        }
        kretprobe:skb_copy_datagram_iter /has_key(@skbs, tid)/ {
          if (retval == 0) {
            $skb = @skbs[tid];
            printf("rx %d %r\n", $skb.len, buf($skb.data, $skb.len));
          }
          delete(@skbs, tid);
        }
        END { clear(@start); clear(@skbs); }""")
    assert re.search(r"^rx 12 Hello, unix\\x0a$", out, re.M), out


def test_string_table_keyed_by_a_kprobe_argument():
    # chown of a file the test owns to another user needs CAP_CHOWN (2: 0)
    script = r"""
        BEGIN { @cap[0] = "CAP_CHOWN"; @cap[1] = "CAP_DAC_OVERRIDE"; }
        kprobe:cap_capable /comm == "bsfeat"/ {
          printf("cap %d %s\n", arg2, @cap[arg2]);
        }
        END { clear(@cap); }"""
    helper = [sys.executable, "-c",
              "import ctypes, os, tempfile\n"
              "ctypes.CDLL(None).prctl(15, b'bsfeat', 0, 0, 0)\n"
              "fd, p = tempfile.mkstemp()\n"
              "os.chown(p, 1, -1)\n"
              "os.unlink(p)\n"]
    code, out, err = trace(script, helper)
    assert code == 0, err
    assert re.search(r"^cap 0 CAP_CHOWN$", out, re.M), out
