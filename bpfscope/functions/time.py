"""The time family: nsecs(clock), strftime and time(); the builtin
variables nsecs, elapsed (since bpfscope compiled the script) and
jiffies."""

from __future__ import annotations

import time

from ..codegen.insn import R0
from ..codegen.loweringvalues import Int
from ..lang import ast
from ..sema import types as T
from ..sema.registry import BuiltinVar, Function, register
from .common import helper_value, of_type

# nsecs(clock): the clock names bpftrace accepts and the helper that reads each.
CLOCKS = {"monotonic": "ktime_get_ns", "boot": "ktime_get_boot_ns",
          "tai": "ktime_get_tai_ns", "sw_tai": "ktime_get_tai_ns"}


def check_nsecs(an, e: ast.Call) -> T.Type:
    an.nargs(e, 0, 1)
    clock = e.args[0] if e.args else None
    if clock is not None and not (isinstance(clock, ast.Identifier) and clock.name in CLOCKS):
        an.err("nsecs() expects one of: " + ", ".join(CLOCKS), clock.span)
    return T.UINT64


def lower_nsecs(lw, e: ast.Call) -> Int:
    r = lw.b.vreg()
    lw.b.call(CLOCKS[e.args[0].name] if e.args else "ktime_get_ns")
    lw.b.mov(r, R0)
    return Int(r)


def check_strftime(an, e: ast.Call) -> T.Type:
    an.nargs(e, 2)
    if not isinstance(e.args[0], ast.String):
        an.err("strftime() expects a string literal format", e.args[0].span)
    an.int_arg(e, 1)
    return T.TimestampType(fmt=e.args[0].value)


def lower_strftime(lw, e: ast.Call) -> Int:
    return lw.int_expr(e.args[1])  # formatted in user space, as its type says


def check_time(an, e: ast.Call) -> T.Type:
    an.nargs(e, 0, 1)
    if e.args and not isinstance(e.args[0], ast.String):
        an.err("time() expects a string literal", e.args[0].span)
    return T.VOID


def emit_time(lw, e: ast.Call) -> None:
    """A record that asks user space to print the time in that format."""
    fmt = e.args[0].value if e.args else "%H:%M:%S\n"
    lw.emit_event(lw.sc.event("time", fmt=fmt), [])


def on_time(session, ev, data: bytes) -> None:
    session.sink.time(time.strftime(ev.fmt))


def lower_elapsed(lw, e: ast.Builtin) -> Int:
    b = lw.b
    r = b.vreg()
    b.call("ktime_get_ns")
    b.mov(r, R0)
    start = b.vreg()
    b.mov(start, lw.sc.start_ns)
    b.alu("sub", r, start)
    return Int(r)


register(
    BuiltinVar("nsecs", of_type(T.UINT64), lower=helper_value("ktime_get_ns")),
    BuiltinVar("elapsed", of_type(T.UINT64), lower=lower_elapsed),
    BuiltinVar("jiffies", of_type(T.UINT64), lower=helper_value("jiffies64")),
)

register(
    Function("nsecs", check_nsecs, lower=lower_nsecs),
    Function("strftime", check_strftime, lower=lower_strftime),
    Function("time", check_time, emit=emit_time, on_record={"time": on_time}),
)
