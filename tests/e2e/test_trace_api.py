"""bpfscope.trace() against the kernel: the issue's example as written,
maps read live while the trace runs and after it ends, printf events as
Python objects, exit() from the script, errors of loading, nothing
printed, nothing left attached."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest

import bpfscope

ME = os.getpid()


def test_the_issue_example_as_written(kernel, no_leaks, capfd):
    with bpfscope.trace('tracepoint:syscalls:sys_enter_getppid /pid == %d/ { @n = count(); }'
                        % os.getpid()) as t:
        for _ in range(321): os.getppid()  # noqa: E701 - the issue's line
        print(t.maps["@n"])      # 321
    assert capfd.readouterr() == ("321\n", "")  # the trace itself printed nothing
    assert t.maps["@n"] == 321  # the last value stays after the end
    assert no_leaks["map"] and no_leaks["prog"]  # this process made them


def test_maps_read_live_as_the_workload_goes(kernel, no_leaks):
    script = (f'tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ {{ @n = count(); '
              f'@by[comm, tid & 1] = count(); @h = hist(@x++); @l = lhist(@y++, 0, 10, 5); '
              f'@s = stats(4); @mx = max(7); }}')
    with bpfscope.trace(script) as t:
        assert t.maps["@n"] == 0 and t.maps["@h"] == []  # nothing yet
        for step in (1, 2, 3):
            for _ in range(10):
                os.getppid()
            assert t.maps["@n"] == 10 * step  # read while it runs
        maps = dict(t.maps)
        comm = open("/proc/self/comm").read().strip()[:15]
        assert maps["@by"] == {(comm, threading.get_native_id() & 1): 30}
        assert sum(b.count for b in maps["@h"]) == 30
        # @x counted 0..29 before each hist(): log2 buckets of 0..29
        assert [(b.low, b.high, b.count) for b in maps["@h"]] == [
            (0, 1, 1), (1, 2, 1), (2, 4, 2), (4, 8, 4), (8, 16, 8), (16, 32, 14)]
        assert [(b.low, b.high, b.count) for b in maps["@l"]] == [
            (0, 5, 5), (5, 10, 5), (10, None, 20)]
        assert maps["@s"] == (30, 120, 4) and maps["@mx"] == 7
        assert t.health()["probes"] == 1 and t.health()["lost"] == 0


def test_printf_events_as_python_objects(kernel, no_leaks, capfd):
    script = (f'tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ '
              f'{{ @i++; printf("%s %d %d\\n", comm, tid, @i); }}')
    with bpfscope.trace(script) as t:
        for _ in range(5):
            os.getppid()
        evs = list(t.events(timeout=1.0))
    assert [e.i for e in evs] == [1, 2, 3, 4, 5]
    assert {e.tid for e in evs} == {threading.get_native_id()}
    assert evs[0].text == f"{evs[0].comm} {evs[0].tid} 1\n" and evs[0].kind == "printf"
    assert capfd.readouterr() == ("", "")


def test_exit_ends_the_trace_and_output_is_written_when_asked(kernel, no_leaks):
    out = io.StringIO()
    script = (f'tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ '
              f'{{ @n = count(); if (@n == 3) {{ exit(); }} }} END {{ printf("end\\n"); }}')
    with bpfscope.trace(script, output=out) as t:
        for _ in range(3):
            os.getppid()
        assert t.wait(5) and not t.running
        assert t.stop() == 0
    assert t.maps["@n"] == 3
    assert out.getvalue() == "end\n\n\n@n: 3\n"  # bpftrace's text output, maps at exit


def test_a_load_error_raises_in_the_caller(kernel, no_leaks):
    # unknown tracepoints are an error of compiling (tracefs is read then)
    with pytest.raises(bpfscope.BpfscopeError) as e:
        bpfscope.trace("tracepoint:syscalls:sys_enter_no_such_call { @n = count(); }")
    assert "ERROR:" in e.value.format()


def test_two_traces_side_by_side(kernel, no_leaks):
    a = bpfscope.trace(f'tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ {{ @a = count(); }}')
    b = bpfscope.trace(f'tracepoint:syscalls:sys_enter_getpid /pid == {ME}/ {{ @b = count(); }}')
    with a, b:
        for _ in range(4):
            os.getppid()
        os.getpid()
        deadline = time.monotonic() + 2
        while b.maps["@b"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert a.maps["@a"] == 4 and b.maps["@b"] >= 1
