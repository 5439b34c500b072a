"""tcprtt: the smoothed round-trip time of TCP connections as they receive, as a histogram.

bcc's tcprtt: a log2 histogram of the sockets' srtt in ``usecs`` (``-m``:
``msecs``), one per local (``-b``) or remote (``-B``) IPv4 address, filtered
by ports, addresses and family, at the end or every ``-i`` seconds. The
hook is the tcp:tcp_probe tracepoint (each segment an established socket
receives), whose ``srtt`` is the kernel's ``srtt_us >> 3``; addresses are
read from its sockaddr bytes.
"""

from __future__ import annotations

import ipaddress
import struct

from . import bccfmt
from .common import (CONFIG, Plan, ToolError, ToolParser, add_duration, add_flags, add_interval,
                     add_timestamp, add_json, intervals, positive_int, printf, report)

HOOKS = ("tracepoint:tcp:tcp_probe",)

EXAMPLES = """\
    bpfscope tcprtt               # summarize TCP RTT
    bpfscope tcprtt -i 1 -d 10    # print 1 second summaries, 10 times
    bpfscope tcprtt -m -T         # summarize in millisecond, and timestamps
    bpfscope tcprtt -p 80         # filter for local port
    bpfscope tcprtt -P 80         # filter for remote port
    bpfscope tcprtt -a 10.0.0.1   # filter for local address
    bpfscope tcprtt -A 10.0.0.1   # filter for remote address
    bpfscope tcprtt -b            # show sockets histogram by local address
    bpfscope tcprtt -B            # show sockets histogram by remote address
    bpfscope tcprtt -e            # show extension summary(average)
    bpfscope tcprtt -4            # trace only IPv4 family
"""

AF_INET, AF_INET6 = 2, 10


def parser() -> ToolParser:
    p = ToolParser("tcprtt", "Summarize TCP RTT as a histogram", EXAMPLES)
    add_interval(p)
    add_duration(p)
    add_timestamp(p)
    add_flags(p, ("-m", "--milliseconds", "millisecond histogram"))
    p.add_argument("-p", "--lport", type=positive_int, metavar="LPORT",
                   help="filter for local port")
    p.add_argument("-P", "--rport", type=positive_int, metavar="RPORT",
                   help="filter for remote port")
    p.add_argument("-a", "--laddr", metavar="LADDR", help="filter for local address")
    p.add_argument("-A", "--raddr", metavar="RADDR", help="filter for remote address")
    by = p.add_mutually_exclusive_group()
    add_flags(by, ("-b", "--byladdr", "show sockets histogram by local address"),
              ("-B", "--byraddr", "show sockets histogram by remote address"))
    add_flags(p, ("-e", "--extension", "show extension summary(average)"))
    family = p.add_mutually_exclusive_group()
    add_flags(family, ("-4", "--ipv4", "trace IPv4 family only"),
              ("-6", "--ipv6", "trace IPv6 family only"))
    add_json(p)
    return p


def ipv4_word(field: str) -> str:
    """The IPv4 address of a sockaddr_in byte array, as the u32 it is in
    memory (network order)."""
    return " | ".join(f"((uint32)args.{field}[{4 + i}] << {8 * i})" for i in range(4))


def address(text: str, flag: str) -> int:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ToolError(f"{flag} {text}: not an IP address") from None
    if addr.version != 4:
        raise ToolError(f"{flag} {text}: address filters take IPv4 addresses here")
    return struct.unpack("<I", addr.packed)[0]


def build(opts) -> Plan:
    conds = []
    if opts.lport:
        conds.append(f"args.sport == {opts.lport}")
    if opts.rport:
        conds.append(f"args.dport == {opts.rport}")
    if opts.ipv4 or opts.laddr or opts.raddr:
        conds.append(f"args.family == {AF_INET}")
    if opts.ipv6:
        conds.append(f"args.family == {AF_INET6}")
    if opts.laddr:
        conds.append(f"({ipv4_word('saddr')}) == {address(opts.laddr, '-a')}")
    if opts.raddr:
        conds.append(f"({ipv4_word('daddr')}) == {address(opts.raddr, '-A')}")
    pred = f" /{' && '.join(conds)}/" if conds else ""
    label, div = ("msecs", 1000) if opts.milliseconds else ("usecs", 1)
    field = "saddr" if opts.byladdr else "daddr" if opts.byraddr else None
    key = f"[args.family == {AF_INET} ? ({ipv4_word(field)}) : 0]" if field else ""
    value = "args.srtt" + (f" / {div}" if div > 1 else "")
    rep = report(opts)
    text = (CONFIG + "tracepoint:tcp:tcp_probe" + pred + f" {{\n  @{key} = hist({value});\n}}\n"
            + intervals(opts.interval, opts.duration, rep, opts.json)
            + "END {\n  " + rep + ("" if opts.json else printf("Detaching...\n")) + "\n}\n")
    section = "Local Address" if opts.byladdr else "Remote Address"

    def name(k: tuple) -> str:
        ip = str(ipaddress.IPv4Address(struct.pack("<I", k[0]))) if k[0] else "(not IPv4)"
        return f"\n{section} = {ip}\n"

    def histograms(data) -> str:
        text, count, total = bccfmt.hist_sections(data, label, name if field else None)
        return text + (bccfmt.avg_line(count, total, label) if opts.extension else "")

    return Plan(text=text, json=opts.json, banner="Tracing TCP RTT... Hit Ctrl-C to end.\n",
                formats={"@": histograms})
