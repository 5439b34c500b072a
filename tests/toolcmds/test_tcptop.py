"""tcptop's script and bcc's top-like layout."""

from __future__ import annotations

from bpfscope import api
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds import tcptop


def plan(*argv):
    return tcptop.build(tcptop.parser().parse_args(list(argv)))


def test_script_counts_tcp_bytes_both_ways():
    p = plan("-p", "42", "5", "3")
    text = p.text
    assert "tracepoint:sock:sock_send_length /args.protocol == 6 && args.ret > 0 && pid == 42/" \
        in text
    assert "tracepoint:sock:sock_recv_length /args.protocol == 6 && args.ret > 0 && " \
        "(args.flags & 2) == 0 && pid == 42/" in text
    assert "@tx6[pid, ntop(AF_INET6, $sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8)" in text
    assert "interval:s:5 {" in text and "@__ticks >= 3" in text and p.pid == 42
    api.check_syntax(text)
    assert "@tx6" not in plan("-4").text and "@rx4" not in plan("-6").text
    api.check_syntax(plan("-6").text)
    p6 = plan("-6", "-C", "-S")
    assert p6.formats["@rx6"](MapData("@rx6", "sum", [((1, "::1", 2, "::1", 3), 4096)])) == ""
    assert p6.formats["@tx6"](MapData("@tx6", "sum", [])).startswith("\nPID ")   # the last
    assert p.banner == "Tracing... Output every 5 secs. Hit Ctrl-C to end\n"


def test_rows_busiest_first_ipv4_then_ipv6(monkeypatch):
    monkeypatch.setattr(tcptop, "comm_of", lambda pid: f"proc{pid}-with-a-long-name")
    p = plan("-C", "-S")
    assert p.records["top"].text({}) == "\n"
    k1 = (10, "127.0.0.1", 5000, "127.0.0.1", 40000)
    k2 = (11, "10.0.0.1", 22, "10.0.0.2", 6000)
    k6 = (12, "::1", 80, "::1", 7000)
    out = ""
    for name, entries in (("@rx4", [(k1, 4096)]), ("@tx4", [(k2, 10240), (k1, 1023)]),
                          ("@rx6", []), ("@tx6", [(k6, 2048)])):
        out += p.formats[name](MapData(name, "sum", entries))
    assert out == (
        "PID    COMM         LADDR                 RADDR                  RX_KB  TX_KB\n"
        "11     proc11-with- 10.0.0.1:22           10.0.0.2:6000              0     10\n"
        "10     proc10-with- 127.0.0.1:5000        127.0.0.1:40000            4      0\n"
        "\nPID    COMM         LADDR6                           RADDR6                          "
        "  RX_KB  TX_KB\n"
        f"{12:<6} {'proc12-with-':<12} {'::1:80':<32} {'::1:7000':<32} {0:>6} {2:>6}\n")
    p = plan()
    for name in tcptop.MAPS:      # nothing: no header
        assert p.formats[name](MapData(name, "sum", [])) == ""
    top = plan().records["top"].text({})
    assert top.startswith(tcptop.CLEAR) and " loadavg: " in top
