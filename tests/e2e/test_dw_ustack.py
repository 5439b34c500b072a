"""dw_ustack(): user stacks of a program built without frame pointers,
unwound from its call frame information (tests/e2e/progs/nofp.c, built
by the test with -fomit-frame-pointer). ustack, which follows frame
pointers, loses the callers there; dw_ustack finds every one, in a
uprobe (the context's registers) and in a profile probe (the sampled
thread's user registers), in both stack modes."""

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

SRC = os.path.join(os.path.dirname(__file__), "progs", "nofp.c")
CHAIN = ["leaf", "inner", "middle", "outer", "main"]


@pytest.fixture(scope="module")
def nofp(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = str(tmp_path_factory.mktemp("nofp") / "nofp")
    subprocess.run(["gcc", "-O2", "-fomit-frame-pointer", "-fno-optimize-sibling-calls",
                    "-fno-inline", "-o", out, SRC], check=True)
    return out


def run(e2e, nofp, script, *args):
    t = e2e.Trace("-e", script)
    try:
        prog = subprocess.run([nofp, *args], capture_output=True, timeout=60)
        assert prog.returncode == 0
        out, err = t.finish(timeout=30)
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    assert t.returncode == 0, err
    return out


def functions(block):
    """The function names of a printed stack, leaf first."""
    return [m.group(1) for m in re.finditer(r"^\s+(?:[0-9a-f]+ )?([A-Za-z_]\w*)\+\d+", block, re.M)]


def test_a_uprobe_stack_through_frames_without_frame_pointers(e2e, nofp):
    out = run(e2e, nofp, f'uprobe:{nofp}:leaf {{ printf("%s---%s", dw_ustack(), ustack()); '
                         f'exit(); }}', "50")
    dw, fp = out.split("---")[:2]
    assert functions(dw)[:5] == CHAIN, dw
    assert functions(dw)[-1] == "_start", dw
    assert functions(fp)[:5] != CHAIN, fp  # frame pointers lose the callers


def test_perf_mode_and_a_frame_limit(e2e, nofp):
    out = run(e2e, nofp, f'uprobe:{nofp}:leaf {{ print(dw_ustack(perf, 3)); exit(); }}', "50")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 3, out
    for ln, fn in zip(lines, CHAIN):
        assert re.fullmatch(rf"\t[0-9a-f]+ {fn}\+\d+ \({re.escape(nofp)}\)", ln), ln


def test_profile_samples_unwind_the_threads_user_stack(e2e, nofp):
    out = run(e2e, nofp, f'profile:hz:499 /comm == "nofp"/ {{ printf("%s===\\n", dw_ustack()); '
                         f'@n = count(); if (@n == 20) {{ exit(); }} }} END {{ clear(@n); }}',
              "600", "spin")
    stacks = [functions(b) for b in out.split("===") if b.strip()]
    assert len(stacks) >= 10, out
    whole = [s for s in stacks if s[:5] == CHAIN]
    assert len(whole) >= len(stacks) * 3 // 4, stacks


def test_dw_ustack_is_refused_in_maps_and_where_no_thread_runs(e2e, nofp):
    for script, what in ((f"uprobe:{nofp}:leaf {{ @[dw_ustack()] = count(); }}", "key"),
                         (f"uprobe:{nofp}:leaf {{ @s = dw_ustack(); }}", "value")):
        r = e2e.run_cli("--dry-run", "-e", script)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert f"ERROR: dw_ustack() can not be a map {what}" in r.stderr, r.stderr
    r = e2e.run_cli("--dry-run", "-e", "BEGIN { print(dw_ustack()); }")
    assert "ERROR: dw_ustack() can not be used with 'BEGIN' probes" in r.stderr
