"""trace: a line per call of functions, tracepoints or USDT probes, with a message of their arguments.

bcc's trace. Each probe is ``[{p,r,t,u}]:[library]:function[(signature)]
[(predicate)] ["format", args...]``: ``func`` is ``p::func`` (a kernel
function), ``lib:func`` is ``p:lib:func``, ``r`` the return (``retval``),
``t:category:event`` a tracepoint (``args->field``), ``u:lib:[provider:]probe``
a USDT probe (a function of that name when the file has no such probe).
bcc's arguments are ``arg1..arg6`` (bpftrace's ``arg0..``); a signature
names them. The line is ``PID TID COMM FUNC -`` and the message, the
format applied in user space as bcc does; ``-n``/``-f`` keep the lines
whose process name or message contain a text, ``-M`` stops after that
many lines; ``-K``/``-U`` add the stacks, ``-a`` each frame's address.
``-B`` makes STRCMP compare bytes, NULs and all (its literal a byte
list ``"{0x7f, 'E'}"`` or text with escapes); ``-s`` names files whose
symbols serve the binaries of the same build-id (a stripped program's
stacks and functions).
The C of the specifiers becomes bpftrace in cexpr.py.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field

from . import cexpr, patterns
from .cexpr import SpecError
from .common import (CONFIG, Plan, Record, ToolError, ToolParser, add_flags, add_pid,
                     positive_int, quote, record)

HOOKS = None   # the probes named decide

EXAMPLES = """\
    bpfscope trace do_sys_openat2
        trace the kernel function and print a line when it is entered
    bpfscope trace 'do_sys_openat2 "%s", arg2@user'
        ... with the file name being opened (arg2, a user pointer)
    bpfscope trace 'do_sys_openat2 "%s", arg2' -n main
        ... only for processes whose name contains "main"
    bpfscope trace 'do_sys_openat2 "%s", arg2' -f config
        ... only the lines whose message contains "config"
    bpfscope trace 'r::do_sys_openat2 (retval < 0) "failed %d", retval'
        trace failing returns of the function, with the error
    bpfscope trace 't:syscalls:sys_enter_openat "%s", args->filename'
        the openat tracepoint, with its file name field
    bpfscope trace 'c:malloc "size = %d", arg1'
        trace malloc() calls in libc and the size asked
    bpfscope trace 'u:c:malloc "size %d", arg1' -p 1234
        the same as a u: probe (no USDT probe malloc: the function), in one process
    bpfscope trace 'r:c:malloc (retval) "allocated = %x", retval'
        returns from malloc() with a non-NULL buffer
    bpfscope trace 'p:c:write (arg1 == 1) "writing %d bytes to STDOUT", arg3'
        write() calls to file descriptor 1
    bpfscope trace 'u:pthread:pthread_create (arg4 != 0)'
        the USDT probe pthread_create when its 4th argument is non-zero
    bpfscope trace 'p::do_nanosleep(struct hrtimer_sleeper *t) "%d", t->timer._softexpires'
        a signature names the arguments; types come from the kernel's BTF
    bpfscope trace -M 10 -tU 'c:open "%s", arg1'
        ten open() calls, with timestamps and user stacks, then stop
    bpfscope trace -B 't:syscalls:sys_enter_write (STRCMP("{0x7f, 0x45, 0, 0x4c}", args->buf))'
        writes of these four bytes, the NUL among them compared too
    bpfscope trace -s ./app.debug -U './app:handle "%d", arg1'
        a stripped ./app, its function and stack frames named by the symbols of app.debug
"""

TYPES = ("p", "r", "t", "u")

# a conversion of bcc's formats: flags, width, precision, length, conversion
_CONV = re.compile(r"%([-+ #0]*\d*(?:\.\d+)?)(hh|h|ll|l|z)?([diouxXcsKUp%])")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "r": "\r", "0": "\0"}
# bcc's integer conversions -> the cast of the value sent (by its length: none, l, h)
_INT = {"d": "int32", "i": "int32", "u": "uint32", "x": "uint32", "X": "uint32", "o": "uint32",
        "c": "uint8"}
_LONG = {"d": "int64", "i": "int64", "u": "uint64", "x": "uint64", "X": "uint64", "o": "uint64"}
_SHORT = {"d": "int16", "i": "int16", "u": "uint16", "x": "uint16", "X": "uint16", "o": "uint16"}


@dataclass
class Probe:
    """One parsed probe specifier."""
    raw: str
    kind: str                       # p, r, t or u
    library: str = ""               # '' for the kernel
    function: str = ""              # function, tracepoint category:event or USDT name
    offset: int = 0
    params: list = field(default_factory=list)     # (name, bpftrace type)
    predicate: str | None = None    # bpftrace
    fmt: str = ""                   # the Python format of the message
    values: list = field(default_factory=list)     # (bcc conversion, bpftrace expr)
    spec: str = ""                  # the bpftrace probe
    display: str = ""               # FUNC
    retval: str = "retval"          # what retval is in bpftrace

    def trivial(self) -> bool:
        return not self.fmt


def _balanced(text: str, i: int) -> int:
    """The index of the ')' closing the '(' at text[i], strings skipped (-1: none)."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i = cexpr.string_end(text, i)
            if i < 0:
                return -1
        elif c in "()":
            depth += 1 if c == "(" else -1
            if depth == 0:
                return i
        i += 1
    return -1


def _head(raw: str, pid: int | None) -> Probe:
    """The probe part of a specifier: type, library, function."""
    m = re.match(r"[^\s(]*", raw)
    spec = m.group(0)
    if not spec:
        raise SpecError("no probe", raw, 0)
    parts = spec.split(":")
    if len(parts) == 1:
        parts = ["p", "", parts[0]]
    elif len(parts) == 2:
        if parts[0] in ("t", "u"):
            raise SpecError(f"{parts[0]}: needs two more ':'-separated parts", raw, 0, len(spec))
        parts = ["p", parts[0], parts[1]]
    kind = parts[0] or "p"
    if kind not in TYPES:
        raise SpecError(f"probe type must be '', 'p', 't', 'r', or 'u', but got '{kind}'",
                        raw, 0, len(parts[0]))
    p = Probe(raw, kind)
    if kind == "t":
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise SpecError("a tracepoint is t:category:event", raw, 0, len(spec))
        p.function = f"{parts[1]}:{parts[2]}"
        if not cexpr.tracepoint_exists(parts[1], parts[2]):
            raise SpecError(f"this kernel has no tracepoint {p.function}", raw, 2, len(spec))
        p.spec, p.display = f"tracepoint:{p.function}", parts[2]
        return p
    if kind == "u":
        if len(parts) not in (3, 4) or not parts[1] or not parts[-1]:
            raise SpecError("a USDT probe is u:library:[provider:]probe", raw, 0, len(spec))
        p.library, p.function = parts[1], ":".join(parts[2:])
        pat = patterns.Pattern("usdt", _library(parts[1], pid, raw), parts[-1],
                               parts[2] if len(parts) == 4 else None,
                               fallback=len(parts) == 3, text=spec)
        p.spec = _one(pat, raw, spec, f"unrecognized USDT probe {p.function}", pid)
        p.display = p.function
        return p
    p.library, func = ":".join(parts[1:-1]), parts[-1]
    if "+" in func:
        func, _, off = func.partition("+")
        try:
            p.offset = int(off, 16 if "x" in off.lower() else 10)
        except ValueError:
            at = spec.rfind("+") + 1
            raise SpecError(f"invalid offset format '{off}', must be decimal or hexadecimal",
                            raw, at, at + len(off)) from None
        if kind == "r":
            raise SpecError("a return probe takes no offset", raw, spec.rfind("+"), len(spec))
    if not func:
        raise SpecError("no function named", raw, 0, len(spec))
    p.function = p.display = func
    off = f"+{p.offset}" if p.offset else ""
    if not p.library:
        p.spec = f"{'kretprobe' if kind == 'r' else 'kprobe'}:{quote(func)}{off}"
        if kind == "r":
            p.retval = cexpr.kernel_retval(func)
        return p
    pat = patterns.Pattern("user", _library(p.library, pid, raw), func, text=spec)
    entry = _one(pat, raw, spec, f"no function {func} in {p.library}", pid)
    p.spec = (entry.replace("uprobe:", "uretprobe:", 1) if kind == "r" else entry) + off
    return p


def _library(name: str, pid, raw: str) -> str:
    try:
        return patterns.library(name, pid)
    except ToolError:
        at = raw.find(name)
        raise SpecError(f"unable to find library {name}", raw, at, at + len(name)) from None


def _one(pat, raw: str, spec: str, missing: str, pid) -> str:
    """The probe a pattern without wildcards names."""
    if "*" in pat.name:
        raise SpecError("trace takes no wildcards (funccount and stackcount do)", raw,
                        0, len(spec))
    try:
        return patterns.expand(pat, False, pid)[0].spec
    except ToolError:
        raise SpecError(missing, raw, 0, len(spec)) from None


def parse(raw: str, pid: int | None = None, strlen: int = 80, bin_cmp: bool = False) -> Probe:
    """A probe specifier, checked and rewritten in bpftrace."""
    p = _head(raw, pid)
    i = len(re.match(r"[^\s(]*", raw).group(0))
    if raw[i:i + 1] == "(":
        end = _balanced(raw, i)
        if end < 0:
            raise SpecError("unmatched '(' of the signature", raw, i, len(raw))
        if p.kind in ("t", "u"):
            raise SpecError("USDT and tracepoint probes can't have a function signature; "
                            "use arg1, arg2, ... instead", raw, i, end + 1)
        if p.kind == "r" and raw[i + 1:end].strip():
            raise SpecError("a return probe can't read the parameters of a signature (only "
                            "retval); trace the entry with p:, or use argdist's $entry(param)",
                            raw, i, end + 1)
        p.params = cexpr.signature(raw[i + 1:end], raw, i + 1)
        i = end + 1
    names = {n for n, _ in p.params}
    while raw[i:i + 1].isspace():
        i += 1
    if raw[i:i + 1] == "(":
        end = _balanced(raw, i)
        if end < 0:
            raise SpecError("unmatched end of predicate", raw, i, len(raw))
        p.predicate = cexpr.rewrite(raw[i + 1:end], raw, i + 1, names, strlen=strlen,
                                    retval=p.retval, bin_cmp=bin_cmp)
        i = end + 1
        while raw[i:i + 1].isspace():
            i += 1
    if i < len(raw):
        _action(p, raw, i, names, strlen, bin_cmp)
    return p


def _action(p: Probe, raw: str, i: int, names, strlen: int, bin_cmp: bool = False) -> None:
    """The format string and its arguments, from raw[i:]."""
    if raw[i] != '"':
        raise SpecError('expected a format string in "s', raw, i, len(raw))
    j = i + 1
    while j < len(raw) and raw[j] != '"':
        j += 2 if raw[j] == "\\" else 1
    if j >= len(raw):
        raise SpecError("unterminated format string", raw, i, len(raw))
    fmt = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw[i + 1:j])
    convs = []
    out = []
    last = 0
    for m in _CONV.finditer(fmt):
        out.append(fmt[last:m.start()].replace("%", "%%"))
        last = m.end()
        flags, length, conv = m.groups()
        if conv == "%":
            out.append("%%")
            continue
        convs.append((length or "") + conv)
        py = {"K": "s", "U": "s", "p": "x", "i": "d", "u": "d", "X": "X", "o": "o"}.get(conv, conv)
        out.append("%" + flags + py)
    rest = fmt[last:]
    if "%" in rest.replace("%%", ""):
        at = i + 1 + fmt.rfind("%")
        raise SpecError("unrecognized format specifier", raw, at, at + 2)
    out.append(rest)
    p.fmt = "".join(out)
    tail = raw[j + 1:]
    args = []
    if tail.strip():
        k = len(tail) - len(tail.lstrip())
        if tail[k] != ",":
            raise SpecError("expected ',' after the format string", raw, j + 1 + k, len(raw))
        args = cexpr.split_top(tail[k + 1:], j + 2 + k)
    if len(args) != len(convs):
        raise SpecError(f"the format has {len(convs)} conversions but {len(args)} arguments "
                        "follow it", raw, i, len(raw))
    if len(args) > 16:
        raise SpecError("at most 16 arguments can be printed", raw, i, len(raw))
    for conv, (text, at) in zip(convs, args):
        if not text.strip():
            raise SpecError("empty argument", raw, at, at + 1)
        expr = cexpr.rewrite(text, raw, at, names, strlen=strlen, retval=p.retval,
                             bin_cmp=bin_cmp)
        p.values.append((conv, expr))


def sent(conv: str, expr: str, strlen: int) -> tuple[str, str]:
    """The printf conversion and the expression that send one value."""
    base = conv[-1]
    if base == "s":
        return "%s", f"str({expr}, {strlen})"
    if base == "K":
        return "%s", f"ksym({expr})"
    if base == "U":
        return "%s", f"usym({expr})"
    if base == "p":
        return "%llu", f"(uint64)({expr})"
    if conv.startswith("l") or conv.startswith("z"):
        cast = _LONG[base]
    elif conv.startswith("h") and base in _SHORT:
        cast = _SHORT[base] if conv != "hh" + base else _SHORT[base].replace("16", "8")
    else:
        cast = _INT[base]
    return ("%lld" if cast.startswith("int") else "%llu"), f"({cast})({expr})"


def parser() -> ToolParser:
    p = ToolParser("trace", "Attach to functions and print trace messages.", EXAMPLES)
    add_pid(p, "id of the process to trace (optional)")
    p.add_argument("-L", "--tid", type=positive_int, metavar="TID",
                   help="id of the thread to trace (optional)")
    p.add_argument("--uid", type=int, metavar="UID", help="id of the user to trace (optional)")
    add_flags(p, ("-v", "--verbose", "print the resulting bpftrace program before running it"))
    p.add_argument("-Z", "--string-size", type=positive_int, default=80, metavar="STRING_SIZE",
                   help="maximum size to read from strings")
    add_flags(p, ("-S", "--include-self", "do not filter trace's own pid from the trace"))
    p.add_argument("-M", "--max-events", type=positive_int, metavar="MAX_EVENTS",
                   help="number of events to print before quitting")
    p.add_argument("-b", "--buffer-pages", type=positive_int, metavar="BUFFER_PAGES",
                   help="number of pages per CPU for the ring buffer (bpfscope's one ring "
                   "holds this many times the CPUs, rounded down to a power of two; "
                   "default: sized by memory)")
    add_flags(p, ("-t", "--timestamp", "print timestamp column (offset from trace start)"),
              ("-u", "--unix-timestamp",
               "print UNIX timestamp instead of offset from trace start, requires -t"),
              ("-T", "--time", "print time column"),
              ("-C", "--print_cpu", "print CPU id"))
    p.add_argument("-c", "--cgroup-path", metavar="CGROUP_PATH", help="cgroup path")
    p.add_argument("-n", "--name", help="only print process names containing this name")
    p.add_argument("-f", "--msg-filter", dest="msg_filter", metavar="MSG_FILTER",
                   help="only print the msg of event containing this string")
    add_flags(p, ("-K", "--kernel-stack", "output kernel stack trace"),
              ("-U", "--user-stack", "output user stack trace"),
              ("-a", "--address", "print virtual address in stacks"),
              ("-A", "--aggregate", "aggregate amount of each trace"),
              ("-B", "--bin_cmp", "allow to use STRCMP with binary values"))
    p.add_argument("-s", "--sym_file_list", metavar="SYM_FILE_LIST",
                   help="comma separated list of symbol files to use for symbol resolution "
                   "(matched to binaries by build-id)")
    p.add_argument("-I", "--include", action="append", metavar="header",
                   help="accepted as bcc's; bpfscope takes types from the kernel's BTF")
    p.add_argument("-j", "--json", action="store_true",
                   help="print bpfscope's JSON output (one record per event)")
    p.add_argument("probes", nargs="+", metavar="probe", help="probe specifier (see examples)")
    return p


def _filters(opts) -> list[str]:
    out = []
    if opts.pid:
        out.append(f"pid == {opts.pid}")
    elif opts.tid:
        out.append(f"tid == {opts.tid}")
    elif not opts.include_self:
        out.append(f"pid != {os.getpid()}")
    if opts.uid is not None:
        out.append(f"uid == {opts.uid}")
    if opts.cgroup_path:
        out.append(f"cgroup == cgroupid({_string(opts.cgroup_path)})")
    return out


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def program(probes: list[Probe], opts) -> str:
    """The bpftrace script of the probes: each sends record ``t<i>``."""
    pred = " && ".join(_filters(opts))
    # bcc's -b sizes each CPU's perf buffer; the one ring buffer here is shared
    pages = opts.buffer_pages * (os.cpu_count() or 1) if opts.buffer_pages else 0
    out = [CONFIG.replace(" }", f"; perf_rb_pages = {pages} }}") if pages else CONFIG]
    for n, p in enumerate(probes):
        fields = [("%d", "pid"), ("%d", "tid"), ("%s", "comm")]
        if opts.timestamp:
            fields.append(("%llu", "nsecs"))
        if opts.print_cpu:
            fields.append(("%d", "cpu"))
        fields += [sent(c, e, opts.string_size) for c, e in p.values]
        # -a: perf's layout carries each frame's address next to its symbol
        mode = "(perf)" if opts.address else ""
        if opts.kernel_stack:
            fields.append(("%s", "kstack" + mode))
        if opts.user_stack:
            fields.append(("%s", "ustack" + mode))
        body = [f"  ${name} = ({t})arg{k};" for k, (name, t) in enumerate(p.params)]
        send = record(f"t{n}", fields)
        if p.predicate:
            body.append(f"  if ({p.predicate}) {{\n    {send}\n  }}")
        else:
            body.append("  " + send)
        out.append(cexpr.mark(p.raw) + p.spec + (f" /{pred}/" if pred else "")
                   + " {\n" + "\n".join(body) + "\n}\n")
    return "".join(out)


def _frames(text: str, address: bool = False) -> str:
    """A stack as bcc's trace prints it, one indented frame a line; with
    ``address`` (-a, the stack in perf's layout: ``ADDR SYM (MODULE)``)
    each frame's address comes first."""
    out = []
    for f in text.splitlines():
        f = f.strip()
        if not f:
            continue
        addr = ""
        if address:
            a, _, f = f.partition(" ")
            f = f.rsplit(" (", 1)[0] if f.endswith(")") else f
            addr = f"{int(a, 16):16x} "
        unknown = f.startswith("0x") and all(c in "0123456789abcdefx" for c in f)
        out.append(f"        {addr}{'[unknown]' if unknown else f}\n")
    return "".join(out)


def _symbol_files(text: str) -> None:
    """-s's files: their symbols serve the binaries of the same build-id,
    for the probes named here and the stacks printed."""
    from ..elf.debugfile import set_symbol_files
    from ..elf.reader import ElfError
    paths = [p for p in text.split(",") if p]
    for path in paths:
        if not os.path.isfile(path):
            raise ToolError(f"-s {path}: no such file")
    try:
        set_symbol_files(paths)
    except ElfError as e:
        raise ToolError(f"-s: {e.message}") from None
    except OSError as e:
        raise ToolError(f"-s: {e.filename}: {e.strerror}") from None


def build(opts) -> Plan:
    if opts.unix_timestamp and not opts.timestamp:
        raise ToolError("-u needs -t")
    if opts.aggregate and opts.max_events is None:
        raise ToolError("-M/--max-events should be specified with -A/--aggregate")
    if opts.pid and opts.tid:
        raise ToolError("only one of -p and -L may be specified")
    if opts.sym_file_list:
        _symbol_files(opts.sym_file_list)
    probes = [parse(raw, opts.pid, opts.string_size, opts.bin_cmp) for raw in opts.probes]
    text = program(probes, opts)
    if opts.verbose:
        sys.stdout.write(text + "\n")
    cexpr.check_script(text, "trace", [p.raw for p in probes], opts.pid)
    first_ns, first_real = time.monotonic_ns(), time.time()
    state = {"events": 0, "agg": {}}

    def done() -> bool:
        return opts.max_events is not None and state["events"] >= opts.max_events

    def values(v: dict, p: Probe) -> tuple:
        out = []
        for k, (conv, _) in enumerate(p.values):
            x = v[f"v{k}"]
            if conv[-1] == "c":
                x = chr(x)
            out.append(x)
        return tuple(out)

    def message(v: dict, p: Probe) -> str:
        try:
            return p.fmt % values(v, p) if p.fmt else ""
        except (TypeError, ValueError) as e:
            return f"[bad format: {e}]"

    def keep(p: Probe):
        def ok(v: dict) -> bool:
            if done():
                return False
            if opts.name and opts.name not in v["comm"]:
                return False
            if opts.msg_filter and opts.msg_filter not in message(v, p):
                return False
            state["events"] += 1
            return True
        return ok

    def line(p: Probe):
        def show(v: dict) -> str:
            head = ""
            if opts.timestamp or opts.time:
                if not opts.timestamp:
                    head = "%-8s " % time.strftime("%H:%M:%S")
                elif opts.unix_timestamp:
                    stamp = (v["ts"] - first_ns) / 1e9 + first_real
                    head = "%-17s " % ("%.6f" % stamp)[:17]
                else:
                    head = "%-8s " % ("%.6f" % ((v["ts"] - first_ns) / 1e9))[:8]
            if opts.print_cpu:
                head += f"{v['cpu']:<3} "
            out = (f"{head}{v['pid']:<7} {v['tid']:<7} {v['comm']:<15} {p.display:<16} "
                   f"{message(v, p)}\n")
            if opts.kernel_stack:
                out += _frames(v["kstack"], opts.address)
            if opts.user_stack:
                out += _frames(v["ustack"], opts.address)
            if opts.kernel_stack or opts.user_stack:
                out += "\n"
            if not opts.aggregate:
                return out
            state["agg"][out] = state["agg"].get(out, 0) + 1
            if not done():
                return ""
            return "".join(f"{k}-->COUNT {n}\n\n" for k, n in
                           sorted(state["agg"].items(), key=lambda e: e[1], reverse=True))
        return show

    records = {}
    for n, p in enumerate(probes):
        names = ["pid#", "tid#", "comm"] + (["ts#"] if opts.timestamp else []) \
            + (["cpu#"] if opts.print_cpu else []) \
            + [f"v{k}" + ("" if c[-1] in "sKU" else "#") for k, (c, _) in enumerate(p.values)] \
            + (["kstack"] if opts.kernel_stack else []) + (["ustack"] if opts.user_stack else [])
        records[f"t{n}"] = Record(tuple(names), line(p), keep(p))
    header = ""
    if opts.timestamp or opts.time:
        header += f"{'TIME':<17} " if opts.unix_timestamp else f"{'TIME':<8} "
    if opts.print_cpu:
        header += f"{'CPU':<3} "
    trivial = all(p.trivial() for p in probes)
    header += f"{'PID':<7} {'TID':<7} {'COMM':<15} {'FUNC':<16} {'' if trivial else '-'}\n"
    return Plan(text=text, pid=opts.pid, json=opts.json, banner=header, records=records,
                stop=done)
