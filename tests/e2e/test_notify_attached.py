"""The tool-facing protocol of bpftrace 0.26: with
``__BPFTRACE_NOTIFY_PROBES_ATTACHED`` in the environment the tracer prints
that line on stdout once every probe is attached, so a harness can cause
its events only then; and ``probe`` names BEGIN/END in lower case."""

from __future__ import annotations

import os
import time

from .conftest import _readline

LINE = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"


def _stdout_line(proc, timeout=15.0) -> str:
    return _readline(proc.stdout, time.monotonic() + timeout)


def test_line_comes_before_the_events_it_announces(e2e, kernel, monkeypatch):
    # the test makes its syscall only after reading the line: the probe
    # must already be attached then, as bpftrace's AFTER relies on
    monkeypatch.setenv(LINE, "1")
    t = e2e.Trace("-q", "-e", "tracepoint:syscalls:sys_enter_getppid /pid == $1/ "
                  '{ printf("seen\\n"); exit(); }', str(os.getpid()), wait_attached=False)
    assert _stdout_line(t.proc) == LINE + "\n"
    os.getppid()
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out == "seen\n\n\n"  # and the maps' blank lines, as bpftrace
    assert LINE not in err


def test_line_is_on_stdout_once_even_with_an_output_file(e2e, kernel, monkeypatch, tmp_path):
    monkeypatch.setenv(LINE, "")  # bpftrace only asks whether it is set
    out = tmp_path / "out.txt"
    r = e2e.run_cli("-o", str(out), "-e", 'BEGIN { printf("x\\n"); } '
                    'interval:ms:10 { exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout == LINE + "\n"
    assert out.read_text() == "x\n\n\n"


def test_no_line_without_the_variable(e2e, kernel, monkeypatch):
    monkeypatch.delenv(LINE, raising=False)
    r = e2e.run_prog('BEGIN { printf("x\\n"); exit(); }')
    assert LINE not in r.stdout


def test_probe_names_begin_and_end_in_lower_case(e2e, kernel):
    r = e2e.run_prog('BEGIN { printf("%s", probe); } END { printf("-%s\\n", probe); } '
                     'begin { exit(); }')
    assert r.stdout.splitlines()[0] == "begin-end"
