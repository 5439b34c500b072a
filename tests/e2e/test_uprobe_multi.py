"""A uprobe wildcard on a kernel with uprobe_multi links (Linux 6.6+):
probes of one file whose programs are the same code share one program and
one link, and each function is still counted on its own; probes that need
programs of their own (``probe``) get a link each; with the links forced
off (BPFSCOPE_NO_UPROBE_MULTI=1) every uprobe is a perf event as before.
Nothing is left afterwards (the tracer's own objects, the breakpoints in
the test's own program)."""

from __future__ import annotations

import re
import signal
import time

import pytest

from .test_kill_leaks import (HOOK_FDS, NFUNCS, Target, _assert_nothing_left, _perf_fds,
                             attach_way, many)  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("kernel")
CALLS = 3
PROGRESS = re.compile(r"(Attaching|Detaching) probes: \d+ of \d+ \(\d+ s\)$|Detached \d+ probes? in [\d.]+ s$")


@pytest.fixture
def target(many):  # noqa: F811
    t = Target(many)
    yield t
    t.stop()


def _run(e2e, target, script: str):
    """Trace script, call every function CALLS times, ^C: (the map's
    lines as {key: count}, the ids of the BPF objects and the number of
    BPF links and perf events the tracer held while attached)."""
    base = target.code()
    started = time.monotonic()
    t = e2e.Trace("-e", script, timeout=60)
    attach_s = time.monotonic() - started
    hooks = _perf_fds(t.proc.pid, HOOK_FDS)
    perf = _perf_fds(t.proc.pid)
    held = t.held()
    target.proc.stdin.write(b"a" * CALLS)
    target.proc.stdin.flush()
    for _ in range(CALLS):
        target.proc.stdout.readline()
    time.sleep(0.2)
    started = time.monotonic()
    t.proc.send_signal(signal.SIGINT)
    out, err = t.finish(timeout=60)
    detach_s = time.monotonic() - started
    assert t.returncode == 0, err
    # a detach of over a second says how far it is (runtime.progress)
    assert [ln for ln in err.splitlines() if not PROGRESS.match(ln)] == [
        f"Attached {NFUNCS} probes"], err
    counts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^@\[(.*)\]: (\d+)$", out, re.M)}
    _assert_nothing_left(e2e, t, target, base, target.proc.args[0])
    print(f"attach {attach_s:.2f} s, detach {detach_s:.2f} s")
    return counts, held, hooks, perf


def test_same_code_shares_one_program_and_one_link(e2e, many, target, attach_way):  # noqa: F811
    counts, held, hooks, perf = _run(e2e, target, f'uprobe:{many}:bs_f* {{ @[reg("ip")] = count(); }}')
    # each function counted on its own, at its own entry
    assert {int(k): v for k, v in counts.items()} == {a: CALLS for a in target.addrs}
    if attach_way == "multi":
        assert (len(held["prog"]), len(held["link"]), hooks, perf) == (1, 1, 1, 0)
    else:
        assert len(held["prog"]) == NFUNCS and perf == NFUNCS


def test_uretprobes_share_a_return_link(e2e, many, target, attach_way):  # noqa: F811
    counts, held, hooks, perf = _run(e2e, target, f"uretprobe:{many}:bs_f* {{ @[retval] = count(); }}")
    # bs_fI(x) returns x * (I + 3) + I: a value per function
    assert counts == {str(ord("a") * (i + 3) + i): CALLS for i in range(NFUNCS)}
    if attach_way == "multi":
        assert (len(held["prog"]), len(held["link"]), hooks) == (1, 1, 1)
    else:
        assert perf == NFUNCS


def test_probe_builtin_keeps_a_program_per_function(e2e, many, target, attach_way):  # noqa: F811
    counts, held, hooks, perf = _run(e2e, target, f"uprobe:{many}:bs_f* {{ @[probe] = count(); }}")
    assert counts == {f"uprobe:{many}:bs_f{i:03d}": CALLS for i in range(NFUNCS)}
    assert len(held["prog"]) == NFUNCS
    if attach_way == "multi":
        assert (len(held["link"]), hooks, perf) == (NFUNCS, NFUNCS, 0)
    else:
        assert perf == NFUNCS


def test_progress_lines_while_attaching_and_detaching_one_by_one(e2e, many, target, monkeypatch):  # noqa: F811
    """With the threshold at 0 s (BPFSCOPE_PROGRESS_AFTER) the perf-event
    path, a uprobe at a time, shows where it is in both phases."""
    monkeypatch.setenv("BPFSCOPE_NO_UPROBE_MULTI", "1")
    monkeypatch.setenv("BPFSCOPE_PROGRESS_AFTER", "0")
    t = e2e.Trace("-e", f"uprobe:{many}:bs_f* {{ @ = count(); }}", timeout=60)
    t.proc.send_signal(signal.SIGINT)
    out, err = t.finish(timeout=60)
    assert t.returncode == 0, err
    lines = err.splitlines()
    assert lines[0] == f"Attaching probes: 0 of {NFUNCS} (0 s)", err
    at = lines.index(f"Attached {NFUNCS} probes")
    assert all(ln.startswith("Attaching probes: ") for ln in lines[:at]), err
    assert lines[at + 1] == f"Detaching probes: 0 of {NFUNCS} (0 s)", err
    assert re.fullmatch(rf"Detached {NFUNCS} probes in [\d.]+ s", lines[-1]), err
    assert all(PROGRESS.match(ln) for ln in lines[at + 1:]), err


def test_max_probes_bounds_a_uprobe_wildcard(e2e, many, monkeypatch):  # noqa: F811
    """BPFTRACE_MAX_PROBES (max_probes) is obeyed by uprobe wildcards too:
    over it, a located error and nothing loaded or attached; a config
    block can raise it."""
    monkeypatch.setenv("BPFTRACE_MAX_PROBES", "100")
    mark = e2e.bpf_ids()
    r = e2e.run_cli("-e", f"uprobe:{many}:bs_f* {{ @ = count(); }}")
    assert r.returncode == 1, r.stderr
    assert f"ERROR: Can't attach to {NFUNCS} probes because it exceeds the current limit of 100 probes." \
        in r.stderr, r.stderr
    assert r.stderr.startswith("stdin:1:1-"), r.stderr  # at the wildcard
    assert "Traceback" not in r.stderr
    made = e2e.created_since(mark)  # at most the kernel's feature probes, gone
    assert not made["link"] and not made["map"], made
    e2e.assert_gone(made)
    monkeypatch.delenv("BPFTRACE_MAX_PROBES")
    r = e2e.run_cli("-e", f"config = {{ max_probes = {NFUNCS + 1} }} uprobe:{many}:bs_f* {{ @ = count(); }} "
                          "interval:ms:100 { exit(); }")
    assert r.returncode == 0, r.stderr
