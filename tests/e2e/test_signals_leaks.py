"""Ending a trace with a signal, and proof that no BPF program, map or link
outlives a run, whether it ended normally or with an error."""

from __future__ import annotations

import os

import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

PROG = ('BEGIN { printf("begin\\n"); @b = 1; } interval:ms:10 { @n = count(); } '
        'tracepoint:syscalls:sys_enter_getppid /pid == 0/ { @g = count(); } '
        'END { printf("end\\n"); }')


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_runs_end_prints_maps_and_cleans_up(e2e, sig):
    t = e2e.Trace("-e", PROG)
    time.sleep(0.2)
    # 4 programs and their links are really there while it runs: counted
    # from the tracer's own fds (/proc/PID/fdinfo), as other tests or tools
    # may load BPF too; and the id log owned_ids.py keeps saw each of them
    held = t.held()
    assert len(held["prog"]) == 4
    assert len(held["link"]) >= 1
    made = t.created()
    for kind in ("prog", "map", "link"):
        assert held[kind] and held[kind] <= made[kind], kind
    t.proc.send_signal(sig)
    out, err = t.finish()
    assert t.returncode == 0
    assert err == "Attached 4 probes\n"
    # @g, a keyless map never set, prints as 0.26 prints it: @g: 0
    assert out.startswith("begin\nend\n\n\n@b: 1\n@g: 0\n@n: ")
    lines = out.split("\n")
    assert lines[-2].startswith("@n: ") and int(lines[-2][4:]) >= 3
    assert lines[-1] == ""
    e2e.assert_gone(t.created())


def test_killed_process_leaves_nothing(e2e):
    t = e2e.Trace("-e", PROG)
    held = t.held()
    assert len(held["prog"]) == 4
    t.proc.kill()
    t.proc.wait(10)
    made = t.created()
    assert held["prog"] <= made["prog"] and held["map"] <= made["map"]
    e2e.assert_gone(made)


def test_normal_exit_leaves_nothing(e2e, helper, no_leaks):
    r = e2e.run_cli("-c", f"{helper} getpid 3", "-e",
                    'tracepoint:syscalls:sys_enter_getppid /comm == "bse2e"/ { @ = count(); } '
                    'interval:ms:5 { @i = count(); }')
    assert r.returncode == 0, r.stderr
    assert "@: 3\n" in r.stdout


def test_verifier_rejection_leaves_nothing(e2e, no_leaks):
    # the first program loads, the second is rejected: nothing may remain
    r = e2e.run_cli("-e", 'BEGIN { @x = 1; } interval:ms:10 { $x = 0; while (1) { $x++; } }')
    assert r.returncode == 1
    assert "the verifier rejected it" in r.stderr


def test_attach_failure_leaves_nothing(no_leaks, monkeypatch):
    """The second probe fails to attach after the first one was attached:
    the run fails with a KernelError naming the probe, and everything
    (both programs, the first link, all maps) is released."""
    from bpfscope import api
    from bpfscope.attach import providers
    from bpfscope.errors import BpfscopeError

    real = providers.attach
    calls = []

    def flaky(probe, fd):
        calls.append(probe)
        if len(calls) == 2:
            raise OSError(16, "Device or resource busy")
        return real(probe, fd)

    monkeypatch.setattr(providers, "attach", flaky)
    script = api.compile_script('tracepoint:syscalls:sys_enter_getppid { @a = count(); } '
                                'tracepoint:syscalls:sys_enter_getpid { @b = count(); }')
    with pytest.raises(BpfscopeError) as ei:
        api.run(script, duration=2)
    assert len(calls) == 2
    text = ei.value.format()
    assert "ERROR: Unable to attach probe: tracepoint:syscalls:sys_enter_getpid" in text
    assert "Traceback" not in text


def test_dash_c_missing_program_leaves_nothing(e2e, no_leaks, tmp_path):
    r = e2e.run_cli("-c", str(tmp_path / "no-such-program"), "-e",
                    'tracepoint:syscalls:sys_enter_getppid { @ = count(); } BEGIN { @b = 1; }')
    assert "Traceback" not in r.stderr, r.stderr
    assert "ERROR" in r.stderr


def test_dash_c_missing_program_fails(e2e, tmp_path):
    r = e2e.run_cli("-c", str(tmp_path / "no-such-program"), "-e",
                    'BEGIN { printf("begin\\n"); @b = 1; }')
    assert r.returncode == 1
    assert r.stdout == ""


def test_compile_error_loads_nothing(e2e, no_leaks):
    r = e2e.run_cli("-e", 'BEGIN { @x = 1; @x = "s"; }')
    assert r.returncode == 1
    assert "ERROR: Type mismatch" in r.stderr


def test_api_session_cleans_up_on_exception(no_leaks):
    """A sink that raises mid-run: the session must still close everything."""
    from bpfscope import api

    class Boom(Exception):
        pass

    class Sink:
        def attached(self, n): pass
        def printf(self, text): raise Boom(text)
        def map(self, data, top=0, div=1): pass
        def maps_at_exit(self, maps): pass
        def value(self, v): pass
        def lost_events(self, n): pass
        def time(self, text): pass
        def warning(self, msg): pass
        def error(self, msg): pass
        def flush(self): pass

    script = api.compile_script('BEGIN { @a = 1; } interval:ms:10 { printf("tick\\n"); }')
    with pytest.raises(Boom):
        api.run(script, Sink(), duration=5)


FOREIGN = ("import sys, time\n"
           "from bpfscope.bpf.consts import MapType\n"
           "from bpfscope.bpf.maps import BpfMap\n"
           "m = BpfMap.create(MapType.ARRAY, 4, 4, 1, name='bs_foreign')\n"
           "print(m.info().id, flush=True)\n"
           "sys.stdin.read()\n")


def test_leak_check_counts_the_tracer_only(e2e, helper):
    """Another BPF user's object (named like ours, even) made and kept
    while a tracer runs is not counted against the tracer, and the check
    does see an object that is still alive."""
    mark = e2e.bpf_ids()
    other = subprocess.Popen([*e2e.CLI[:1], "-c", FOREIGN], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        foreign = int(other.stdout.readline())
        r = e2e.run_cli("-c", f"{helper} getpid 2", "-e",
                        'tracepoint:syscalls:sys_enter_getppid { @ = count(); }')
        assert r.returncode == 0, r.stderr
        made = e2e.created_since(mark)
        assert made["prog"] and made["map"] and foreign not in made["map"]
        e2e.assert_no_new_objects(mark)
        with pytest.raises(AssertionError, match="left behind"):
            e2e.assert_gone({"map": {foreign}}, wait=0.2)
    finally:
        other.stdin.close()
        other.wait(10)


def test_ctrl_c_while_the_maps_print_is_not_lost(no_leaks):
    """Once END has run, bpftrace gives SIGINT back to its default action,
    so a second ^C during a long map printout ends it. The session gives
    back the handler it found: here Python's, a KeyboardInterrupt (the CLI
    then ends by SIGINT); before, the ^C was swallowed."""
    import io
    import os
    from bpfscope import api
    from bpfscope.output.text import TextOutput

    class Printing(TextOutput):
        def maps_at_exit(self, maps):
            os.kill(os.getpid(), signal.SIGINT)  # the ^C, while the maps print
            for _ in range(1000):  # Python runs handlers between bytecodes
                pass
            super().maps_at_exit(maps)

    script = api.compile_script('BEGIN { @a = 1; exit(); } END { printf("end\\n"); }')
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        api.run(script, Printing(out, io.StringIO()))
    assert out.getvalue() == "end\n"  # END ran first, then the ^C came
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("policy", ["warn", "ignore"])
def test_missing_probes_lets_a_probe_that_fails_to_attach_go(no_leaks, monkeypatch, policy):
    """missing_probes = warn|ignore: a probe the kernel refuses is left out
    (with a located warning under warn) and the others trace on."""
    import io

    from bpfscope import api
    from bpfscope.attach import providers
    from bpfscope.output.text import TextOutput
    real = providers.attach

    def refuse_getpid(probe, fd):
        if probe.name.endswith("sys_enter_getpid"):
            raise OSError(16, "Device or resource busy")
        return real(probe, fd)

    monkeypatch.setattr(providers, "attach", refuse_getpid)
    script = api.compile_script(f'config = {{ missing_probes = "{policy}" }} '
                                f'tracepoint:syscalls:sys_enter_getppid /pid == {os.getpid()}/ '
                                '{ @a = count(); } '
                                'tracepoint:syscalls:sys_enter_getpid { @b = count(); } '
                                'interval:ms:300 { exit(); }')
    out, err = io.StringIO(), io.StringIO()
    code = api.run(script, TextOutput(out, err), duration=5, on_attached=lambda: os.getppid())
    assert code == 0, err.getvalue()
    lines = err.getvalue().splitlines()
    warned = [ln for ln in lines if "Unable to attach probe" in ln]
    if policy == "warn":
        assert len(warned) == 1 and warned[0].endswith(
            ": WARNING: Unable to attach probe: tracepoint:syscalls:sys_enter_getpid: "
            "Device or resource busy, skipping probe."), lines  # located: stdin:L:C-C
    else:
        assert warned == [], lines
    assert "Attached 2 probes" in lines, lines
    assert "@a: 1" in out.getvalue(), out.getvalue()
