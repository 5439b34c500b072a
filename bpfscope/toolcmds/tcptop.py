"""tcptop: TCP send and receive throughput by process and connection, top-like, each interval.

bcc's tcptop: every ``interval`` seconds (1 by default) the time and load
average (not with ``-S``), then ``PID COMM LADDR RADDR RX_KB TX_KB`` rows
for IPv4 and, below them, IPv6 connections, the busiest first; the screen
is cleared first unless ``-C``. The bytes are what sock_sendmsg and
sock_recvmsg moved on TCP sockets (the sock:sock_send_length and
sock:sock_recv_length tracepoints, Linux 6.3+; peeks are not counted),
the addresses and ports the socket's own (``struct sock``, BTF). COMM is
the process's name when the row is printed (its PID once it has ended).
"""

from __future__ import annotations

from .biotop import CLEAR, loadavg_line
from .common import (CONFIG, Plan, Record, ToolParser, add_flags, add_interval_count, add_json,
                     add_pid, every, joined, record)

HOOKS = ("tracepoint:sock:sock_send_length", "tracepoint:sock:sock_recv_length")

EXAMPLES = """\
    bpfscope tcptop           # trace TCP send/recv by host
    bpfscope tcptop -C        # don't clear the screen
    bpfscope tcptop -p 181    # only trace PID 181
    bpfscope tcptop -4        # trace IPv4 family only
    bpfscope tcptop -6        # trace IPv6 family only
    bpfscope tcptop 5 10      # 5 second summaries, 10 times only
"""

MAPS = ["@rx4", "@tx4", "@rx6", "@tx6"]


def parser() -> ToolParser:
    p = ToolParser("tcptop", "Summarize TCP send/recv throughput by host", EXAMPLES)
    add_flags(p, ("-C", "--noclear", "don't clear the screen"),
              ("-S", "--nosummary", "skip system summary line"))
    add_pid(p)
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", action="store_true", help="trace IPv4 family only")
    family.add_argument("-6", "--ipv6", action="store_true", help="trace IPv6 family only")
    add_json(p)
    add_interval_count(p)
    return p


def _side(hook: str, extra: str, maps: tuple[str, str], opts) -> str:
    conds = ["args.protocol == 6", "args.ret > 0"] + ([extra] if extra else [])
    if opts.pid:
        conds.append(f"pid == {opts.pid}")
    c = "$sk->__sk_common"
    body = ""
    for fam, af, m, saddr, daddr in (
            (4, "AF_INET", maps[0], f"{c}.skc_rcv_saddr", f"{c}.skc_daddr"),
            (6, "AF_INET6", maps[1], f"{c}.skc_v6_rcv_saddr.in6_u.u6_addr8",
             f"{c}.skc_v6_daddr.in6_u.u6_addr8")):
        if (fam == 4 and opts.ipv6) or (fam == 6 and opts.ipv4):
            continue
        body += (f"  if (args.family == {af}) {{\n    {m}[pid, ntop({af}, {saddr}), {c}.skc_num, "
                 f"ntop({af}, {daddr}), bswap({c}.skc_dport)] = sum(args.ret);\n  }}\n")
    return (f"tracepoint:sock:{hook} /{' && '.join(conds)}/ {{\n"
            "  $sk = (struct sock *)args.sk;\n" + body + "}\n")


def comm_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().rstrip("\n")
    except OSError:
        return str(pid)


def build(opts) -> Plan:
    if opts.interval is None:
        opts.interval = 1
    text = (CONFIG + _side("sock_send_length", "", ("@tx4", "@tx6"), opts)
            # MSG_PEEK (2): the data stays queued, to be read again
            + _side("sock_recv_length", "(args.flags & 2) == 0", ("@rx4", "@rx6"), opts))
    used = [m for m in MAPS if not (m.endswith("6") and opts.ipv4 or
                                    m.endswith("4") and opts.ipv6)]
    rep = ("" if opts.json else record("top", [])) + \
        "".join(f" print({m}); clear({m});" for m in used)
    text += every(opts, rep) + "END {\n " + rep + "\n}\n"

    def table(rx: dict, tx: dict, addr_w: int, six: str) -> str:
        keys = set(rx) | set(tx)
        if not keys:
            return ""
        out = [("\n" if six else "") + f"{'PID':<6} {'COMM':<12} {'LADDR' + six:<{addr_w}} "
               f"{'RADDR' + six:<{addr_w}} {'RX_KB':>6} {'TX_KB':>6}\n"]
        for k in sorted(keys, key=lambda k: rx.get(k, 0) + tx.get(k, 0), reverse=True):
            pid, laddr, lport, raddr, rport = k
            out.append(f"{pid:<6} {comm_of(pid)[:12]:<12} {f'{laddr}:{lport}':<{addr_w}} "
                       f"{f'{raddr}:{rport}':<{addr_w}} {rx.get(k, 0) // 1024:>6} "
                       f"{tx.get(k, 0) // 1024:>6}\n")
        return "".join(out)

    def rows(*tables: dict) -> str:
        got = dict(zip(used, tables))
        return table(got.get("@rx4", {}), got.get("@tx4", {}), 21, "") + \
            table(got.get("@rx6", {}), got.get("@tx6", {}), 32, "6")

    def top(_: dict) -> str:
        head = "\n" if opts.noclear else CLEAR
        if not opts.nosummary:
            head += loadavg_line() + "\n"
        return head

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner="Tracing... Output every %d secs. Hit Ctrl-C to end\n" % opts.interval,
                formats=joined(used, rows), records={"top": Record((), top)})
