"""sslsniff: the plain text of TLS reads and writes (OpenSSL, GnuTLS, NSS), as the library sees it.

bcc's sslsniff: a line ``FUNC TIME(s) COMM PID LEN`` per read or write
that moved data (``-x``: with TID and UID, ``-l``: with LAT(ms)), then the
data between ``----- DATA -----`` and ``----- END DATA -----`` (UTF-8,
or ``--hexdump``), at most ``--max-buffer-size`` bytes of it. The hooks
are uprobes and uretprobes on the libraries' exported functions: libssl's
SSL_write, SSL_read, SSL_write_ex and SSL_read_ex (``-l --handshake``:
SSL_do_handshake), libgnutls's gnutls_record_send/recv, libnspr4's
PR_Write, PR_Send, PR_Read and PR_Recv. The buffer is noted at entry and
read at return, with the length the call returned (for the ``_ex``
functions, the length they stored).
"""

from __future__ import annotations

import argparse
import textwrap

from ..elf import resolve_library
from .common import (CONFIG, Plan, Record, ToolError, ToolParser, add_json, add_pid,
                     positive_int, quote, record)

# the probes a tool with a library's pattern names, for --list-tools
HOOKS = ("uprobe:libssl:SSL_write",)

EXAMPLES = """\
    bpfscope sslsniff              # sniff OpenSSL, GnuTLS and NSS functions
    bpfscope sslsniff -p 181       # sniff PID 181 only
    bpfscope sslsniff -u 1000      # sniff only UID 1000
    bpfscope sslsniff -c curl      # sniff curl command only
    bpfscope sslsniff --no-openssl # don't show OpenSSL calls
    bpfscope sslsniff --no-gnutls  # don't show GnuTLS calls
    bpfscope sslsniff --no-nss     # don't show NSS calls
    bpfscope sslsniff --hexdump    # show data as hex instead of trying to decode it as UTF-8
    bpfscope sslsniff -x           # show process UID and TID
    bpfscope sslsniff -l           # show function latency
    bpfscope sslsniff -l --handshake  # show SSL handshake latency
    bpfscope sslsniff --extra-lib openssl:/path/libssl.so.1.1  # sniff extra library
"""

# (library, [(function, WRITE/READ, kind)]): kind "n" returns the length,
# "ex" returns 1 and stores the length through its fourth argument
LIBS = {
    "openssl": ("libssl", [("SSL_write", "WRITE/SEND", "n32"), ("SSL_read", "READ/RECV", "n32"),
                           ("SSL_write_ex", "WRITE/SEND", "ex"),
                           ("SSL_read_ex", "READ/RECV", "ex")]),
    "gnutls": ("libgnutls", [("gnutls_record_send", "WRITE/SEND", "n64"),
                             ("gnutls_record_recv", "READ/RECV", "n64")]),
    "nss": ("libnspr4", [("PR_Write", "WRITE/SEND", "n32"), ("PR_Send", "WRITE/SEND", "n32"),
                         ("PR_Read", "READ/RECV", "n32"), ("PR_Recv", "READ/RECV", "n32")]),
}

MAX_BUFFER = 65536


def extra_lib(text: str) -> tuple[str, str]:
    kind, sep, path = text.partition(":")
    if not sep or kind not in LIBS or not path:
        raise argparse.ArgumentTypeError(
            f"'{text}': expected TYPE:PATH with TYPE one of {', '.join(LIBS)}")
    return kind, path


def buffer_size(text: str) -> int:
    n = positive_int(text)
    if n > MAX_BUFFER:
        raise argparse.ArgumentTypeError(f"'{text}' is more than {MAX_BUFFER}")
    return n


def parser() -> ToolParser:
    p = ToolParser("sslsniff", "Sniff SSL data", EXAMPLES)
    add_pid(p, "sniff this PID only.")
    p.add_argument("-u", "--uid", type=int, help="sniff this UID only.")
    p.add_argument("-x", "--extra", action="store_true", help="show extra fields (UID, TID)")
    p.add_argument("-c", "--comm", help="sniff only commands matching string.")
    p.add_argument("-o", "--no-openssl", action="store_false", dest="openssl",
                   help="do not show OpenSSL calls.")
    p.add_argument("-g", "--no-gnutls", action="store_false", dest="gnutls",
                   help="do not show GnuTLS calls.")
    p.add_argument("-n", "--no-nss", action="store_false", dest="nss",
                   help="do not show NSS calls.")
    p.add_argument("--hexdump", action="store_true",
                   help="show data as hexdump instead of trying to decode it as UTF-8")
    p.add_argument("--max-buffer-size", type=buffer_size, default=8192, metavar="SIZE",
                   help="size of captured buffer (default 8192)")
    p.add_argument("-l", "--latency", action="store_true", help="show function latency")
    p.add_argument("--handshake", action="store_true",
                   help="show SSL handshake latency, enabled only if latency option is on.")
    p.add_argument("--extra-lib", type=extra_lib, action="append", default=[],
                   metavar="TYPE:PATH",
                   help="intercept calls from extra library (format: lib_type:lib_path)")
    add_json(p)
    return p


def libraries(opts) -> list[tuple[str, str]]:
    """(type, path) of the libraries to probe: the chosen ones found on
    this system (or in ``-p``'s process), and every --extra-lib."""
    out = []
    for kind, (name, _) in LIBS.items():
        if getattr(opts, kind):
            path = resolve_library(name, opts.pid)
            if path:
                out.append((kind, path))
    for kind, path in opts.extra_lib:
        if resolve_library(path) is None:
            raise ToolError(f"--extra-lib {kind}:{path}: no such file")
        out.append((kind, path))
    if not out:
        raise ToolError("none of the TLS libraries (libssl, libgnutls, libnspr4) was found"
                        + (f" in process {opts.pid}" if opts.pid else ""))
    return out


def _length(kind: str) -> str:
    if kind == "ex":
        return "retval == 1 ? *(uint64 *)@__n[tid] : 0"
    return "(int32)retval" if kind == "n32" else "(int64)retval"


def build(opts) -> Plan:
    libs = libraries(opts)
    conds = []
    if opts.uid is not None:
        conds.append(f"uid == {opts.uid}")
    if opts.comm:
        conds.append(f'comm == "{opts.comm}"')
    pred = f" /{' && '.join(conds)}/" if conds else ""
    size = opts.max_buffer_size
    text = CONFIG.replace(" }", f"; max_strlen = {size} }}")
    funcs = [(f"{quote(path)}:{fn}", rw, kind) for k, path in libs for fn, rw, kind in LIBS[k][1]]
    plain = [f for f, _, kind in funcs if kind != "ex"]
    ex = [f for f, _, kind in funcs if kind == "ex"]
    if plain:
        text += (",\n".join(f"uprobe:{f}" for f in plain) + pred
                 + " {\n  @__buf[tid] = arg1; @__ts[tid] = nsecs;\n}\n")
    if ex:
        text += (",\n".join(f"uprobe:{f}" for f in ex) + pred
                 + " {\n  @__buf[tid] = arg1; @__ts[tid] = nsecs; @__n[tid] = arg3;\n}\n")
    values = [("%s", '"RW"'), ("%llu", "nsecs"), ("%s", "comm"), ("%d", "pid"), ("%d", "tid"),
              ("%d", "uid"), ("%lld", "$len"), ("%llu", "nsecs - @__ts[tid]"),
              ("%rh", f"buf(@__buf[tid], $len > {size} ? {size} : $len)")]
    for f, rw, kind in funcs:
        rec = record("ssl", [(c, '"' + rw + '"' if e == '"RW"' else e) for c, e in values])
        text += (f"uretprobe:{f} /has_key(@__buf, tid)/ {{\n  $len = {_length(kind)};\n"
                 f"  if ($len > 0) {{ {rec} }}\n"
                 "  delete(@__buf[tid]); delete(@__ts[tid]);"
                 + (" delete(@__n[tid]);" if kind == "ex" else "") + "\n}\n")
    shake = opts.latency and opts.handshake
    if shake:
        for k, path in libs:
            if k == "openssl":
                f = f"{quote(path)}:SSL_do_handshake"
                text += (f"uprobe:{f}{pred} {{ @__hs[tid] = nsecs; }}\n"
                         f"uretprobe:{f} /has_key(@__hs, tid)/ {{\n  "
                         + record("hs", [("%llu", "nsecs"), ("%s", "comm"), ("%d", "pid"),
                                         ("%d", "tid"), ("%d", "uid"), ("%d", "(int32)retval"),
                                         ("%llu", "nsecs - @__hs[tid]")])
                         + "\n  delete(@__hs[tid]);\n}\n")
    first = []

    def head(v: dict, func: str, length: int) -> str:
        if not first:
            first.append(v["ts"])
        out = f"{func:<12} {(v['ts'] - first[0]) / 1e9:<18.9f} {v['comm']:<16} {v['pid']:<7} "
        if opts.extra:
            out += f"{v['tid']:<7} {v['uid']:<7} "
        out += f"{length:<6}"
        if opts.latency:
            out += f" {v['lat_ns'] / 1e6:<7.3f}"
        return out + "\n"

    def line(v: dict) -> str:
        data = bytes.fromhex(v["data"])
        shown = "\n".join(textwrap.wrap(data.hex(), 32)) if opts.hexdump else \
            data.decode("utf-8", "replace")
        lost = v["len"] - len(data)
        end = f"----- END DATA (TRUNCATED, {lost} bytes lost) -----" if lost > 0 else \
            "----- END DATA -----"
        return head(v, v["func"], v["len"]) + f"----- DATA -----\n{shown}\n{end}\n\n"

    header = f"{'FUNC':<12} {'TIME(s)':<18} {'COMM':<16} {'PID':<7} "
    if opts.extra:
        header += f"{'TID':<7} {'UID':<7} "
    header += f"{'LEN':<6}" + (f" {'LAT(ms)':<7}" if opts.latency else "") + "\n"
    records = {"ssl": Record(("func", "ts#", "comm", "pid#", "tid#", "uid#", "len#", "lat_ns#",
                              "data"), line)}
    if shake:
        records["hs"] = Record(("ts#", "comm", "pid#", "tid#", "uid#", "ret#", "lat_ns#"),
                               lambda v: head(v, "HANDSHAKE", v["ret"]) + "\n")
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header, records=records)
