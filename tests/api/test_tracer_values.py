"""bpfscope.trace's Python values, without a kernel: maps as read
(MapData) to Python values, histogram buckets, printf events by name, and
the names the script gives values (lang.names)."""

from __future__ import annotations

import pytest

import bpfscope
from bpfscope.codegen.script import CompiledScript
from bpfscope.lang import ast
from bpfscope.lang.names import expr_name, unique_names
from bpfscope.lang.parser import parse
from bpfscope.errors import Source
from bpfscope.runtime.stacks import Stack
from bpfscope.runtime.values import AvgValue, Buffer, MapData, StatsValue, Symbolic, hist_index
from bpfscope.tracer import Bucket, Event, Stats, map_value


def _printf_args(text: str) -> list[ast.Expr]:
    prog = parse(Source(text, "stdin"))
    call = prog.probes[0].body[0].expr
    return call.args[1:]


def test_names_follow_the_convention():
    args = _printf_args('BEGIN { printf("", comm, pid, args.filename, str(args.path), $x, '
                        '@m, kstack(3), (uint32)arg1, 1 + 2, "s", cpu) }')
    assert [expr_name(a) for a in args] == ["comm", "pid", "filename", "path", "x", "m",
                                            "kstack", "arg1", None, None, "cpu"]


def test_unnamed_and_shared_names_get_their_position():
    args = _printf_args('BEGIN { printf("", pid, pid, 1 + 2, comm, arg1) }')
    # arg1 would be taken for a position: it keeps only its own place's name
    assert unique_names(args, "arg") == ["arg0", "arg1", "arg2", "comm", "arg4"]


def test_keyless_maps_are_their_value():
    assert map_value(MapData("@n", "count", [((), 321)])) == 321
    assert map_value(MapData("@a", "avg", [((), AvgValue(10, 4))])) == 2
    assert map_value(MapData("@s", "stats", [((), StatsValue(4, 10))])) == Stats(4, 10, 2)
    # nothing counted yet
    assert map_value(MapData("@n", "count", []), keyless=True) == 0
    assert map_value(MapData("@h", "hist", []), keyless=True) == []
    assert map_value(MapData("@n", "count", [])) == {}


def test_keys_are_scalars_or_tuples():
    data = MapData("@c", "count", [(("bash",), 2), (("ls",), 5)])
    assert map_value(data) == {"bash": 2, "ls": 5}
    data = MapData("@c", "sum", [(("bash", 7), -2), ((3, 4), 1)])
    assert map_value(data) == {("bash", 7): -2, (3, 4): 1}


def test_stacks_symbols_and_buffers():
    st = Stack("kernel", [0xffff1, 0xffff2], ["do_open+4", "sys_open+9"])
    data = MapData("@k", "count", [((st,), 3)])
    assert map_value(data) == {("do_open+4", "sys_open+9"): 3}
    data = MapData("@v", "plain", [((1,), st), ((2,), Symbolic("vfs_read", 0xff)),
                                   ((3,), Buffer(b"\x01ab"))])
    assert map_value(data) == {1: ["do_open+4", "sys_open+9"], 2: "vfs_read", 3: b"\x01ab"}


def test_hist_buckets_are_contiguous_and_bounded():
    counts = {}
    for v in (0, 1, 5, 6, 100):
        counts[hist_index(v)] = counts.get(hist_index(v), 0) + 1
    got = map_value(MapData("@h", "hist", [((), counts)]))
    assert got[0] == Bucket(0, 1, 1)
    assert got[1] == Bucket(1, 2, 1)
    assert Bucket(4, 8, 2) in got and Bucket(64, 128, 1) == got[-1]
    assert sum(b.count for b in got) == 5
    assert all(a.high == b.low for a, b in zip(got, got[1:]))
    neg = map_value(MapData("@h", "hist", [((), {0: 2})]))
    assert neg == [Bucket(None, 0, 2)]


def test_lhist_buckets_have_open_ends():
    data = MapData("@l", "lhist", [(("a",), {0: 1, 1: 2, 11: 3})], lhist=(0, 100, 10))
    got = map_value(data)["a"]
    assert got[0] == Bucket(None, 0, 1) and got[1] == Bucket(0, 10, 2)
    assert got[-1] == Bucket(100, None, 3) and len(got) == 12


def test_events_have_fields_by_name():
    ev = Event("printf", "bash 42\n", ["comm", "pid"], ("bash", 42))
    assert ev.comm == "bash" and ev["pid"] == 42 and ev.args == ("bash", 42)
    assert ev.text == "bash 42\n"
    with pytest.raises(AttributeError):
        ev.nothing


def test_compile_errors_raise_with_bpftrace_layout():
    with pytest.raises(bpfscope.BpfscopeError) as e:
        bpfscope.trace("BEGIN { @x = count( }")
    text = e.value.format()
    assert text.startswith("stdin:1:") and "ERROR: syntax error" in text
    assert text.splitlines()[1] == "BEGIN { @x = count( }"


def test_the_package_exports_the_front_door():
    assert "trace" in bpfscope.__all__ and callable(bpfscope.trace)
    assert bpfscope.trace.__module__ == "bpfscope.tracer"
    assert CompiledScript  # the type trace() compiles to
