"""argdist: distributions of function arguments or return values, as histograms or frequency counts.

bcc's argdist. Each ``-C`` (count) or ``-H`` (histogram) specifier is
``{p,r,t,u}:{[library],category}:function(signature)``, then
``[:type[,type...]:expr[,expr...][:filter]][#label]``.
A count keeps one entry per distinct tuple of the expressions' values
(``@[(type)expr, ...] = count()``, ``char*`` values as strings), a
histogram the log2 distribution of its one expression. Without
expressions a count counts calls (``total calls``) or, on a return,
return values; a return probe may use ``$retval``, ``$latency`` (the time
since the entry, which an entry probe stamps) and ``$entry(param)`` (a
parameter, kept at the entry). Every ``-i`` seconds (1) it prints
``[HH:MM:SS]`` and each probe's table or histogram, and clears them
unless ``-c``; ``-n`` outputs, then it ends. With ``-p`` the trace ends with the
process, and what was counted since the last report is reported then.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from . import bccfmt, cexpr, patterns
from .cexpr import SpecError
from .common import (CONFIG, Plan, ToolError, ToolParser, add_flags, add_pid, positive_int,
                     printf, quote)

HOOKS = None   # the specifiers decide

EXAMPLES = """\
    bpfscope argdist -H 'p::__kmalloc(u64 size):u64:size'
        a histogram of allocation sizes passed to kmalloc
    bpfscope argdist -p 1005 -C 'p:c:malloc(size_t size):size_t:size:size==16'
        how many times process 1005 called malloc with a size of 16 bytes
    bpfscope argdist -C 'r:c:gets():char*:(char*)$retval#snooped strings'
        the strings returned by gets()
    bpfscope argdist -d 10 -i 5 -H 'p:c:malloc(size_t size):size_t:size'
        malloc sizes as a histogram every 5 seconds, for 10 seconds
    bpfscope argdist -H 'r::__kmalloc(size_t size):u64:$latency/$entry(size)#ns per byte'
        nanoseconds per byte of kmalloc allocations
    bpfscope argdist -p 1005 -C 'p:c:write(int fd):int:fd' -T 5
        writes per file descriptor in process 1005, the 5 busiest only
    bpfscope argdist -p 1005 -H 'r:c:read()'
        a histogram of the sizes read() returned in process 1005
    bpfscope argdist -C 'r::__vfs_read():u32:$PID:$latency > 100000'
        reads per thread that took longer than 0.1 ms
    bpfscope argdist -H 'p:c:write(int fd, const void *buf, size_t count):size_t:count:fd==1'
        a histogram of the sizes written to standard output
    bpfscope argdist -C 'p:c:fork()#fork calls'
        count fork() calls in libc
    bpfscope argdist -C 't:syscalls:sys_enter_openat():int:args->flags'
        openat calls by their flags
    bpfscope argdist -C 'u:pthread:pthread_start():u64:arg2' -p 1337
        the start functions of the threads of process 1337 (USDT probe)
    bpfscope argdist -i 5 -n 3 -H 'p:c:malloc(size_t size):size_t:size'
        malloc sizes every 5 seconds, three times
    bpfscope argdist -p 2780 -z 120 -C 'p:c:write(int fd, char* buf, size_t len):char*:buf:fd==1'
        what process 2780 writes to standard output, up to 120 characters

Probe specifier syntax:
    {p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]
    p,r,t,u    probe at function entry, function exit, kernel tracepoint or USDT probe;
               in exit probes: $retval, $entry(param), $latency
    library    the library that contains the function (empty for kernel functions)
    category   the category of the kernel tracepoint (e.g. net, sched)
    function   the function to trace (or the tracepoint or USDT probe name)
    signature  the function's parameters, as in the C header
    type       the type of each expression collected (char* for strings)
    expr       the expressions collected (arg1, arg2... are the arguments)
    filter     a condition on the values, as C
    label      the name of this probe in the output
"""


@dataclass
class Spec:
    """One parsed specifier, as bpftrace."""
    raw: str
    kind: str                  # "freq" or "hist"
    ptype: str                 # p, r, t or u
    probe: str = ""            # the bpftrace probe
    entry: str = ""            # the entry probe a return probe needs ('' none)
    params: list = field(default_factory=list)
    types: list = field(default_factory=list)       # C types
    exprs: list = field(default_factory=list)       # bpftrace
    shown: list = field(default_factory=list)       # the expressions as written
    filter: str = ""
    label: str | None = None
    default: bool = False
    saved: list = field(default_factory=list)       # $entry() params kept at entry
    latency: bool = False
    index: int = 0             # its number in the script: @__c<index>, @__h<index>
    retval: str = "retval"     # what retval is in bpftrace
    strlen: int = 80


def _parts(raw: str) -> list[tuple[str, int]]:
    """The ':'-separated parts of the specifier before '#', with their
    offsets; parens and strings may hold ':'."""
    return cexpr.split_top(raw.split("#", 1)[0], 0, ":")


def parse(raw: str, kind: str, pid: int | None = None, strlen: int = 80, index: int = 0) -> Spec:
    """Specifier ``raw`` of a count ("freq") or a histogram ("hist"), the
    ``index``-th of the script (its maps are named by it)."""
    parts = _parts(raw)
    if len(parts) < 3:
        raise SpecError("at least the probe type, library, and function signature must be "
                        "specified", raw)
    if len(parts) > 6:
        at = parts[6][1] - 1
        raise SpecError("extraneous ':'-separated parts detected", raw, at)
    ptype = parts[0][0].strip()
    if ptype not in ("p", "r", "t", "u"):
        raise SpecError(f"probe type must be 'p', 'r', 't', or 'u' but got '{ptype}'",
                        raw, 0, max(len(parts[0][0]), 1))
    s = Spec(raw, kind, ptype, index=index, strlen=strlen)
    s.label = raw.split("#", 1)[1] if "#" in raw else None
    lib, lib_at = parts[1]
    fsig, fat = parts[2]
    m = re.fullmatch(r"\s*(\w+)\s*\((.*)\)\s*", fsig, re.S)
    if m is None:
        raise SpecError(f"function signature '{fsig}' has an invalid format (name(params))",
                        raw, fat, fat + len(fsig))
    func, sig = m.group(1), m.group(2)
    if ptype in ("t", "u") and sig.strip():
        raise SpecError("tracepoints and USDT probes take no signature: use args->field or "
                        "arg1, arg2, ...", raw, fat + m.start(2), fat + m.end(2))
    s.params = cexpr.signature(sig, raw, fat + m.start(2))
    s.probe = _probe(s, lib.strip(), func, raw, lib_at, pid)
    if ptype == "r" and not lib.strip():
        s.retval = cexpr.kernel_retval(func)
    names = {n for n, _ in s.params}
    gone = names if ptype == "r" else ()
    if len(parts) < 5:
        if len(parts) == 4:
            raise SpecError("types need expressions: type[,type...]:expr[,expr...]", raw,
                            parts[3][1], parts[3][1] + len(parts[3][0]))
        if ptype != "r" and kind == "hist":
            raise SpecError("histograms must have expr", raw)
        s.default = True
        s.types = ["u64" if ptype != "r" else "int"]
        s.shown = ["1" if ptype != "r" else "$retval"]
        s.exprs = ["1" if ptype != "r" else s.retval]
    else:
        types, tat = parts[3]
        exprs, eat = parts[4]
        if not types.strip():
            raise SpecError("no expr types specified", raw, tat)
        if not exprs.strip():
            raise SpecError("no exprs specified", raw, eat)
        s.types = [t.strip() for t in types.split(",")]
        pieces = cexpr.split_top(exprs, eat)
        if len(pieces) != len(s.types):
            raise SpecError("mismatched # of exprs and types", raw, tat, eat + len(exprs))
        if kind == "hist" and len(pieces) > 1:
            raise SpecError("histograms can only have 1 expr", raw, eat, eat + len(exprs))
        for t in s.types:
            if cexpr.btype(t) is None and not cexpr.is_string(t):
                at = raw.find(t, tat)
                raise SpecError(f"unknown type '{t}'", raw, at, at + len(t))
        for text, at in pieces:
            if not text.strip():
                raise SpecError("empty expression", raw, at)
            s.shown.append(text.strip())
            s.exprs.append(cexpr.rewrite(text, raw, at, names, _dollars(s, raw), strlen,
                                         s.retval, gone))
    if len(parts) == 6:
        text, at = parts[5]
        s.filter = cexpr.rewrite(text, raw, at, names, _dollars(s, raw), strlen, s.retval,
                                 gone)
    if (s.saved or s.latency) and ptype != "r":
        raise SpecError("$entry() and $latency are for return probes (r:)", raw)
    if s.saved or s.latency:
        s.entry = s.probe.replace("kretprobe:", "kprobe:", 1).replace("uretprobe:", "uprobe:", 1)
    return s


def _dollars(s: Spec, raw: str):
    """argdist's own $words: $latency, $entry(param)."""
    names = {n for n, _ in s.params}

    def word(tok: str, toks, i):
        if tok == "$latency":
            s.latency = True
            return f"(nsecs - @__lat_{s.index}[tid])", i
        if tok == "$entry":
            if i + 3 >= len(toks) or toks[i + 1][1] != "(" or toks[i + 3][1] != ")":
                raise SpecError("$entry takes a parameter name: $entry(param)", raw, toks[i][2])
            name = toks[i + 2][1]
            if name not in names:
                raise SpecError(f"$entry({name}): no such param", raw, toks[i][2],
                                toks[i + 3][2] + 1)
            if name not in s.saved:
                s.saved.append(name)
            return f"@__e{s.index}_{name}[tid]", i + 3
        return None
    return word


def _probe(s: Spec, lib: str, func: str, raw: str, lib_at: int, pid) -> str:
    if s.ptype == "t":
        if not lib:
            raise SpecError("a tracepoint needs its category", raw, lib_at)
        if not cexpr.tracepoint_exists(lib, func):
            raise SpecError(f"this kernel has no tracepoint {lib}:{func}", raw, 2)
        return f"tracepoint:{lib}:{func}"
    if not lib:
        if s.ptype == "u":
            raise SpecError("a USDT probe needs its library", raw, lib_at)
        return f"{'kretprobe' if s.ptype == 'r' else 'kprobe'}:{quote(func)}"
    try:
        path = patterns.library(lib, pid)
    except ToolError:
        raise SpecError(f"unable to find library {lib}", raw, lib_at, lib_at + len(lib)) from None
    if s.ptype == "u":
        pat = patterns.Pattern("usdt", path, func, fallback=True, text=raw)
    else:
        pat = patterns.Pattern("user", path, func, text=raw)
    try:
        spec = patterns.expand(pat, False, pid)[0].spec
    except ToolError:
        what = "USDT probe" if s.ptype == "u" else "function"
        raise SpecError(f"no {what} {func} in {lib}", raw, lib_at) from None
    return spec.replace("uprobe:", "uretprobe:", 1) if s.ptype == "r" else spec


def _key(ctype: str, expr: str, strlen: int) -> str:
    if cexpr.is_string(ctype):
        return f"str({expr}, {strlen})"
    bt = cexpr.btype(ctype)
    return f"({bt if '*' not in bt else 'uint64'})({expr})"


def parser() -> ToolParser:
    p = ToolParser("argdist", "Trace a function and display a summary of its parameter values.",
                   EXAMPLES)
    add_pid(p, "id of the process to trace (optional)")
    p.add_argument("-z", "--string-size", default=80, type=positive_int,
                   help="maximum string size to read from char* arguments")
    p.add_argument("-i", "--interval", default=1, type=positive_int,
                   help="output interval, in seconds")
    p.add_argument("-d", "--duration", type=positive_int,
                   help="total duration of trace in seconds")
    p.add_argument("-n", "--number", type=positive_int, dest="count", help="number of outputs")
    add_flags(p, ("-v", "--verbose", "print the resulting bpftrace program before running it"),
              ("-c", "--cumulative", "do not clear histograms and freq counts at each interval"))
    p.add_argument("-T", "--top", type=positive_int,
                   help="number of top results to show (not applicable to histograms)")
    p.add_argument("-H", "--histogram", nargs="*", dest="histspecifier", metavar="specifier",
                   default=[], help="probe specifier to capture histogram of (see examples below)")
    p.add_argument("-C", "--count", nargs="*", dest="countspecifier", metavar="specifier",
                   default=[], help="probe specifier to capture count of (see examples below)")
    p.add_argument("-I", "--include", action="append", metavar="header",
                   help="accepted as bcc's; bpfscope takes types from the kernel's BTF")
    p.add_argument("-j", "--json", action="store_true",
                   help="print bpfscope's JSON output (as -f json)")
    return p


def _body(s: Spec, pid: int | None) -> str:
    """The probes of one spec (the entry probe first when it needs one)."""
    n = s.index
    pred = f" /pid == {pid}/" if pid else ""
    # the parameters are read at the entry (a return probe's are gone: $entry())
    params = "".join(f"  ${name} = ({t})arg{k};\n" for k, (name, t) in enumerate(s.params))
    if s.ptype == "r" and not s.entry:
        params = ""
    out = ""
    if s.entry:
        keep = "".join(f"  @__e{n}_{name}[tid] = ${name};\n" for name in s.saved)
        if s.latency:
            keep += f"  @__lat_{n}[tid] = nsecs;\n"
        out += f"{s.entry}{pred} {{\n{params}{keep}}}\n"
        params = ""
        need = f"@__e{n}_{s.saved[0]}[tid]" if s.saved else f"@__lat_{n}[tid]"
        pred = f" /has_key({need.split('[')[0]}, tid)/"
    if s.kind == "hist":
        update = f"@__h{n} = hist({_key(s.types[0], s.exprs[0], s.strlen)});"
    elif s.default and s.ptype != "r":
        update = f"@__c{n} = count();"
    else:
        keys = ", ".join(_key(t, e, s.strlen) for t, e in zip(s.types, s.exprs))
        update = f"@__c{n}[{keys}] = count();"
    if s.filter:
        update = f"if ({s.filter}) {{\n    {update}\n  }}"
    clear = ""
    if s.entry:
        clear = "".join(f"\n  delete(@__e{n}_{name}[tid]);" for name in s.saved)
        clear += f"\n  delete(@__lat_{n}[tid]);" if s.latency else ""
    return (cexpr.mark(s.raw) + out
            + f"{s.probe}{pred} {{\n{params}  {update}{clear}\n}}\n")


def build(opts) -> Plan:
    raws = [(r, "freq") for r in opts.countspecifier] + [(r, "hist") for r in opts.histspecifier]
    if not raws:
        raise ToolError("at least one specifier is required (-C or -H)")
    specs = [parse(raw, kind, opts.pid, opts.string_size, n)
             for n, (raw, kind) in enumerate(raws)]
    text = CONFIG + "".join(_body(s, opts.pid) for s in specs)
    report = "" if opts.json else 'time("[%H:%M:%S]\\n");'
    formats = {}
    for s in specs:
        name = f"@__{'h' if s.kind == 'hist' else 'c'}{s.index}"
        if s.kind == "freq" and not opts.json:
            report += printf(f"{s.label or s.raw}\n\t{'COUNT':<10} EVENT\n").replace("\t", "\\t")
        report += f"print({name});" + ("" if opts.cumulative else f" clear({name});")
        formats[name] = _hist(s) if s.kind == "hist" else _freq(s, opts.top)
    if opts.duration:
        # as bcc: the report at which the seconds so far reach -d is the last
        outputs = -(-opts.duration // opts.interval)
        opts.count = min(opts.count, outputs) if opts.count else outputs
    ticks = ""
    if opts.count:
        ticks = (f"  @__ticks = @__ticks + 1;\n"
                 f"  if (@__ticks >= {opts.count}) {{ exit(); }}\n")
    text += f"interval:s:{opts.interval} {{\n  {report}\n{ticks}}}\n"
    if opts.pid:
        # the trace ends with the process, mid-interval: what came since the
        # last report is reported then (not after -n's last, already shown)
        last = f"if (@__ticks < {opts.count}) {{ {report} }}" if opts.count else report
        text += f"END {{\n  {last}\n}}\n"
    if opts.verbose:
        sys.stdout.write(text + "\n")
    cexpr.check_script(text, "argdist", [s.raw for s in specs], opts.pid)
    return Plan(text=text, pid=opts.pid, json=opts.json, formats=formats)


def _value(v) -> str:
    return v if isinstance(v, str) else str(v)


def _freq(s: Spec, top: int | None):
    def show(data) -> str:
        rows = sorted(((k, v) for k, v in data.entries if v), key=lambda e: e[1])
        if top:
            rows = rows[-top:]
        out = []
        for k, count in rows:
            if s.default:
                what = "total calls" if s.ptype != "r" else f"retval = {_value(k[0])}"
            else:
                what = ", ".join(f"{_display(e)} = {_value(x)}" for e, x in zip(s.shown, k))
            out.append(f"\t{count:<10} {what}\n")
        return "".join(out)
    return show


def _display(expr: str) -> str:
    """An expression as bcc shows it: ``$entry(count)`` is ``count``."""
    return re.sub(r"\$entry\((\w+)\)", r"\1", expr)


def _hist(s: Spec):
    label = s.label or (_display(s.shown[0]) if not s.default else "retval")

    def show(data) -> str:
        text, _, _ = bccfmt.hist_sections(data, label)
        return text
    return show
