"""The unsafe family: system() and signal(), allowed only with --unsafe
(a script's config block can not allow them itself)."""

from __future__ import annotations

import signal
import subprocess

from ..codegen.insn import R1
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
    session.sink.printf(out.stdout)


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


register(
    Function("system", check_system, emit=emit_format_event, on_record={"system": on_system}),
    Function("signal", check_signal, emit=emit_signal),
    unsupported("override"),
)
