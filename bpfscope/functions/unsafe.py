"""The unsafe family: system(), signal() and write_user(), allowed only
with --unsafe (a script's config block can not allow them itself)."""

from __future__ import annotations

import signal
import subprocess

from ..codegen.insn import R0, R1, R2, R3
from ..codegen.loweringvalues import Int
from ..lang import ast
from ..runtime.decode import decode
from ..runtime.printf import render
from ..sema import types as T
from ..sema.registry import Function, register
from .common import check_format, check_format_args, emit_format_event, unsupported


def allowed(an, e: ast.Call) -> None:
    if not an.config.get("unsafe"):
        an.err(f"{e.name}() is an unsafe function, use --unsafe to allow it", e.span)


def signal_number(name: str) -> int | None:
    """SIGKILL, KILL or 9 -> 9; None when it names no signal."""
    if name.isdigit():
        return int(name)
    sig = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
    return int(sig) if isinstance(sig, signal.Signals) else None


def check_system(an, e: ast.Call) -> T.Type:
    check_format(an, e)
    allowed(an, e)
    return check_format_args(an, e)


def on_system(session, ev, data: bytes) -> None:
    """Runs the command, its output in order with the trace's."""
    cmd = render(ev.fmt, decode(ev.layout, data, 8, session.resolver) if ev.args else ())
    session.sink.flush()
    # its output's bytes go out as they are, as bpftrace's (see decode)
    out = subprocess.run(cmd, shell=True, capture_output=True,
                         encoding="utf-8", errors="surrogateescape")
    # JSON has a record type of its own for it ("syscall"); text prints it
    show = getattr(session.sink, "syscall", None) or session.sink.printf
    show(out.stdout)


def check_signal(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    allowed(an, e)
    a = e.args[0]
    if isinstance(a, ast.String):
        if signal_number(a.value) is None:
            an.err(f"Invalid signal: {a.value}", a.span)
    else:
        an.int_arg(e, 0)
    return T.VOID


def emit_signal(lw, e: ast.Call) -> None:
    a = e.args[0]
    if isinstance(a, ast.String):
        lw.b.mov(R1, signal_number(a.value))
    else:
        lw.b.mov(R1, lw.int_expr(a).reg)
    lw.b.call("send_signal")


def check_write_user(an, e: ast.Call) -> T.Type:
    """write_user(dst, src, len): copy the first ``len`` bytes of the value
    ``src`` (a string, buffer, array, tuple or integer the program holds)
    to the user address ``dst`` of the current process
    (bpf_probe_write_user); true when the write succeeded."""
    an.nargs(e, 3)
    if not an.config.get("unsafe"):
        an.err("write_user() is unsafe. To use you need the --unsafe flag", e.span)
    dst = an.expr(e.args[0])
    if dst is not None and not dst.is_int():
        an.err(f"write_user() expects an address for argument 1 "
               f"('{T.type_name(dst)}' provided)", e.args[0].span)
    src = an.expr(e.args[1])
    if isinstance(src, T.PointerType):
        an.err("write_user() copies a value the program holds (a string, buffer or "
               "integer), not memory a pointer points to: read it first (buf(), str())",
               e.args[1].span)
    if src is not None and (isinstance(src, (T.VoidType, T.AggType, T.ArgsType))
                            or src.size == 0):
        an.err(f"write_user() can not write a '{T.type_name(src)}'", e.args[1].span)
    n = an.const_int(e.args[2], "write_user")
    size = 0 if src is None else src.size
    if not 1 <= n <= size:
        an.err(f"write_user(): length {n} is not between 1 and the size of the value "
               f"({size} bytes)", e.args[2].span)
    return T.BOOL


def lower_write_user(lw, e: ast.Call) -> Int:
    b = lw.b
    dst = lw.int_expr(e.args[0]).reg
    src = e.args[1]
    if src.type.is_int():
        m = lw.stack_mem(8)
        v = lw.int_expr(src).reg
        b.stx(src.type.size, m.base, m.off, v)
    else:
        m = lw.mem_expr(src)
    b.mov(R1, dst)
    lw.addr(R2, m)
    b.mov(R3, e.args[2].const_value)
    b.call("probe_write_user")
    ok = b.vreg()
    b.mov(ok, 1)
    done = b.label()
    b.jcond("eq", R0, 0, done)     # 0: written; a negative error: false
    b.mov(ok, 0)
    b.place(done)
    return Int(ok)


register(
    Function("write_user", check_write_user, lower=lower_write_user),
    Function("system", check_system, emit=emit_format_event, on_record={"system": on_system}),
    Function("signal", check_signal, emit=emit_signal),
    unsupported("override"),
)
