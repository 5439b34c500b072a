"""The output family: printf, errorf, warnf, print, cat, join, exit,
assert and static_assert, which talk to user space through ring buffer
records (codegen.lower_events writes them; each record's ``on_record``
handler says what the session does with them); and debugf, which the
kernel prints to the trace pipe itself (bpf_trace_printk)."""

from __future__ import annotations

import itertools
import re

from ..codegen.insn import R1, R2, R3, R4, R5, R10
from ..codegen.loweringvalues import Int, Mem
from ..errors import span_end, warn
from ..lang import ast
from ..lang.names import unique_names
from ..runtime.decode import decode
from ..runtime.printf import render
from ..sema import types as T
from ..sema.registry import Function, register
from .common import check_format, check_format_args, emit_format_event, unsupported

# what printf's conversions can format besides integers, strings and the
# types that print themselves as text (Type.show_bytes)
PRINTF_TYPES = (T.TupleType, T.StackType, T.DwStackType, T.UserSymType, T.BufferType,
                T.ArrayType)


def printable(t: T.Type) -> bool:
    return (t.is_int() or t.is_string() or isinstance(t, PRINTF_TYPES)
            or type(t).show_bytes is not T.Type.show_bytes)


def check_printf(an, e: ast.Call) -> T.Type:
    if not e.args or not isinstance(e.args[0], ast.String):
        an.err(f"{e.name}() expects a string literal as first argument", e.span)
    for a in e.args[1:]:
        t = an.expr(a)
        if t is not None and not printable(t):
            an.err(f"{e.name}: unsupported argument type '{T.type_name(t)}'", a.span)
    an.expr(e.args[0])
    return T.VOID


def emit_printf(lw, e: ast.Call) -> None:
    # the arguments' names let the Python API give an event's fields by name
    ev = lw.sc.event(e.name, fmt=e.args[0].value, args=[a.type for a in e.args[1:]],
                     span=e.span, names=unique_names(e.args[1:], "arg"))
    lw.emit_event(ev, e.args[1:])


def on_printf(session, ev, data: bytes) -> None:
    args, text = session.printf_parts(ev, data)
    session.sink.printf(text)
    if session._printf_event is not None:
        session._printf_event(ev, args, text)


def on_message(session, ev, data: bytes) -> None:
    """errorf and warnf: the text, located at the call in the script."""
    src, span = session.script.source, ev.span
    getattr(session.sink, ev.kind)(session.formatted(ev, data), src.name, span.line,
                                   span.col, span_end(span, src))


def check_print(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 3)
    if isinstance(e.args[0], ast.Map) and not e.args[0].keys:
        an.map_info(e.args[0])
        for i in range(1, len(e.args)):
            an.const_int(e.args[i], "print")
    else:
        an.nargs(e, 1)
        t = an.expr(e.args[0])
        if isinstance(t, (T.VoidType, T.ArgsType)):
            an.err(f"print() can not print a value of type '{T.type_name(t)}'", e.span)
    return T.VOID


def emit_print(lw, e: ast.Call) -> None:
    """print(@map [, top [, div]]) or print(value)."""
    a = e.args[0]
    if isinstance(a, ast.Map) and not a.keys:
        top = e.args[1].const_value if len(e.args) > 1 else 0
        div = e.args[2].const_value if len(e.args) > 2 else 1
        ev = lw.sc.event("print_map", map=a.ident, top=top, div=div)
        lw.emit_event(ev, [])
    else:
        ev = lw.sc.event("print_value", args=[a.type])
        lw.emit_event(ev, [a])


def on_print_map(session, ev, data: bytes) -> None:
    session.sink.map(session.read(ev.map), ev.top, ev.div)


def on_print_value(session, ev, data: bytes) -> None:
    session.sink.value(decode(ev.layout, data, 8, session.resolver, session.trailer)[0])


def check_cat(an, e: ast.Call) -> T.Type:
    check_format(an, e)
    return check_format_args(an, e)


MAX_CAT_BYTES = 10240


def read_for_cat(path: str, limit: int = MAX_CAT_BYTES) -> str:
    """cat(): a file's text, as much as bpftrace's max_cat_bytes allows;
    OSError when it cannot be read."""
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "surrogateescape")


def on_cat(session, ev, data: bytes) -> None:
    """As bpftrace 0.26: a file that cannot be read is an error line on
    stderr, and the output gets what was read (nothing; in JSON an empty
    cat record); the trace goes on."""
    args = decode(ev.layout, data, 8, session.resolver) if ev.args else ()
    path = render(ev.fmt, args)
    try:
        text = read_for_cat(path, int(session.script.config.get("max_cat_bytes",
                                                                MAX_CAT_BYTES)))
    except OSError as e:
        session.sink.error(f"failed to open file '{path}' ({e.strerror})")
        text = ""
    session.sink.cat(text)


def check_exit(an, e: ast.Call) -> T.Type:
    an.nargs(e, 0, 1)
    if e.args:
        an.int_arg(e, 0)
    return T.VOID


def emit_exit(lw, e: ast.Call) -> None:
    lw.exit_program(lw.int_expr(e.args[0]).reg if e.args else None)


def on_exit(session, ev, data: bytes) -> None:
    """The record only wakes user space up: the exit code is in a map. As
    bpftrace (finalize_), the records after it are dropped until END runs."""
    session.check_exit()
    session.finalize()


def check_join(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 2)
    an.int_arg(e, 0)
    if len(e.args) == 2 and not isinstance(e.args[1], ast.String):
        an.err("join() expects a string literal as delimiter", e.args[1].span)
    return T.VOID


JOIN_ARGS = 16


def emit_join(lw, e: ast.Call) -> None:
    """join(argv [, delim]): up to JOIN_ARGS strings of a NULL-ended
    array of user pointers, read straight into one record."""
    b = lw.b
    n, slen = JOIN_ARGS, lw.sc.an.max_strlen
    delim = e.args[1].value if len(e.args) > 1 else " "
    ev = lw.sc.event("join", fmt=delim, args=[T.StringType(slen)] * n)
    argv = lw.int_expr(e.args[0])
    rec, lost, done = lw.reserve_record(ev)
    end, ptr = b.label("joined"), b.vreg()
    for i, off in enumerate(ev.layout.offsets):
        b.st(1, rec, 8 + off, 0)  # an empty string ends the list
    slot = lw.stack_mem(8)
    site = lw.sc.drop_site("strcut", "join", e.span)
    for i, off in enumerate(ev.layout.offsets):
        lw.addr(R1, slot)
        b.mov(R2, 8)
        b.mov(R3, argv.reg)
        if i:
            b.alu("add", R3, 8 * i)
        b.call("probe_read_user")
        b.ldx(8, ptr, R10, slot.off)
        b.jcond("eq", ptr, 0, end)
        b.mov(R1, rec)
        b.alu("add", R1, 8 + off)
        b.mov(R2, slen)
        b.mov(R3, ptr)
        b.call("probe_read_user_str")
        lw.count_cut(Int(ptr), slen, T.PointerType(user=True), site, slot)
    b.place(end)
    lw.submit_record(rec, lost, done)


def on_join(session, ev, data: bytes) -> None:
    parts = decode(ev.layout, data, 8)
    session.sink.join(ev.fmt.join(p for p in itertools.takewhile(bool, parts)))


def check_assert(an, e: ast.Call) -> T.Type:
    """assert(condition, message): at run time, errorf and exit(1)."""
    an.nargs(e, 2)
    an.cond(e.args[0])
    an.string_arg(e, 1)
    return T.VOID


def emit_assert(lw, e: ast.Call) -> None:
    # as bpftrace's macro: errorf("assert failed: %s", msg); exit(1)
    b = lw.b
    held = b.label("assert_ok")
    lw.branch_true(e.args[0], held)
    ev = lw.sc.event("errorf", fmt="assert failed: %s", args=[e.args[1].type], span=e.span)
    lw.emit_event(ev, e.args[1:])
    one = b.vreg()
    b.mov(one, 1)
    lw.exit_program(one)
    b.place(held)


def check_static_assert(an, e: ast.Call) -> T.Type:
    """A condition known at compile time; false fails the compile with
    the message, at the static_assert."""
    an.nargs(e, 2)
    msg = e.args[1]
    if not isinstance(msg, ast.String):
        an.err("static_assert() expects a string literal message", msg.span)
    an.expr(msg)
    an.expr(e.args[0])
    v = an.const_value(e.args[0])
    if v is None:
        an.err("unable to evaluate compile-time assert", e.args[0].span)
    if not v:
        an.err(msg.value, e.span)
    return T.VOID


def emit_nothing(lw, e: ast.Call) -> None:
    """Checked at compile time: no code."""


# what bpf_trace_printk formats: %d %i %u %x %X %p %s %c, with l or ll
# before the integer ones; at most three arguments
_DEBUGF_SPEC = re.compile(r"%%|%(-?[0-9]*(?:\.[0-9]+)?)((?:ll|l)?[diuxX]|p|s|c)?")
DEBUGF_MAX_ARGS = 3


def check_debugf(an, e: ast.Call) -> T.Type:
    """debugf(fmt, args...): printf to the kernel's trace pipe
    (/sys/kernel/tracing/trace_pipe) through bpf_trace_printk."""
    if not e.args or not isinstance(e.args[0], ast.String):
        an.err("debugf() expects a string literal format as first argument", e.span)
    fmt = e.args[0].value
    specs = []
    for m in _DEBUGF_SPEC.finditer(fmt):
        if m.group(0) == "%%":
            continue
        if m.group(2) is None:
            bad = re.match(r"%[-0-9.]*[a-zA-Z]*", fmt[m.start():]).group(0)
            an.err(f"debugf: Unknown format string token: {bad}", e.args[0].span)
        specs.append(m.group(2))
    args = e.args[1:]
    if len(args) != len(specs):
        many = "Not enough" if len(args) < len(specs) else "Too many"
        an.err(f"debugf: {many} arguments for format string ({len(args)} supplied, "
               f"{len(specs)} expected)", e.span)
    if len(args) > DEBUGF_MAX_ARGS:
        an.err(f"debugf: Cannot use more than {DEBUGF_MAX_ARGS} conversion specifiers",
               e.span)
    for spec, a in zip(specs, args):
        t = an.expr(a)
        if t is None:
            continue
        want_str = spec == "s"
        if want_str != t.is_string() or not (t.is_int() or t.is_string()):
            an.err(f"debugf: %{spec} specifier expects a value of type "
                   f"{'string' if want_str else 'integer'} ({T.type_name(t)} supplied)",
                   a.span)
    an.expr(e.args[0])
    if an.final:
        warn("The debugf() builtin is not recommended for production use. For more "
             "information see bpf_trace_printk in bpf-helpers(7).", e.span,
             key=("debugf", e.span))
    return T.VOID


def emit_debugf(lw, e: ast.Call) -> None:
    """bpf_trace_printk(fmt, size of fmt with its NUL, up to three
    arguments): integers by value, strings by their address."""
    b = lw.b
    fmt = lw.mem_expr(e.args[0])
    vals = []
    for a in e.args[1:]:
        vals.append(lw.mem_expr(a) if a.type.is_string() else lw.int_expr(a).reg)
    lw.addr(R1, fmt)
    b.mov(R2, len(e.args[0].value.encode()) + 1)
    for preg, v in zip((R3, R4, R5), vals):
        if isinstance(v, Mem):
            lw.addr(preg, v)
        else:
            b.mov(preg, v)
    b.call("trace_printk")


register(
    Function("debugf", check_debugf, emit=emit_debugf),
    Function("printf", check_printf, emit=emit_printf, on_record={"printf": on_printf}),
    Function("errorf", check_printf, emit=emit_printf, on_record={"errorf": on_message}),
    Function("warnf", check_printf, emit=emit_printf, on_record={"warnf": on_message}),
    Function("print", check_print, emit=emit_print,
             on_record={"print_map": on_print_map, "print_value": on_print_value}),
    Function("cat", check_cat, emit=emit_format_event, on_record={"cat": on_cat}),
    Function("exit", check_exit, emit=emit_exit, on_record={"exit": on_exit}),
    Function("join", check_join, emit=emit_join, on_record={"join": on_join}),
    Function("assert", check_assert, emit=emit_assert),
    Function("static_assert", check_static_assert, emit=emit_nothing),
    unsupported("print_maps"),
)
