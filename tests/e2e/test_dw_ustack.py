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


def assert_whole_chains(out):
    """Most of the printed stacks (=== after each) are the whole chain."""
    stacks = [functions(b) for b in out.split("===") if b.strip()]
    assert len(stacks) >= 10, out
    whole = [s for s in stacks if s[:5] == CHAIN]
    assert len(whole) >= len(stacks) * 3 // 4, stacks


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
    assert_whole_chains(out)


def test_a_map_keyed_by_dw_ustack_counts_each_call_chain(e2e, nofp, tmp_path):
    """@[dw_ustack()] = count() is kept in user space, each update merged
    by the unwound stack: the totals of every chain add up to the samples
    counted in the kernel, and --folded writes the chains."""
    folded = tmp_path / "out.folded"
    # show_debug_info = 0: the first stack through libc would read libc6-dbg's
    # DWARF (about a second). The predicate stops the counting at 40: nofp
    # has one thread, so its samples never overlap, and no sample counted
    # in @n comes after the exit() whose records are the last merged (seen
    # under load without it: @n 43, the chains 40)
    out = run(e2e, nofp, f'config = {{ show_debug_info = 0 }} '
                         f'profile:hz:499 /comm == "nofp" && @n < 40/ {{ @[dw_ustack()] = count(); '
                         f'@n = count(); @s[dw_ustack(perf, 2), comm] = sum(2); '
                         f'if (@n == 40) {{ exit(); }} }}', "600", "spin")
    counts = [int(x) for x in re.findall(r"^\]: (\d+)$", out, re.M)]
    assert int(re.search(r"^@n: (\d+)$", out, re.M).group(1)) >= 40
    blocks = out.split("@s[")[0].split("@[")[1:]
    assert sum(counts[:len(blocks)]) == int(re.search(r"^@n: (\d+)$", out, re.M).group(1))
    # (a sample may land in the dynamic loader while the process starts:
    # those stacks are not the chain)
    leaves = [b for b in blocks if functions(b)[:1] == ["leaf"]]
    assert leaves and all(functions(b)[:5] == CHAIN for b in leaves), blocks
    frames = [b.split("]:")[0] for b in blocks]
    assert len(set(frames)) == len(frames)  # one entry per unwound stack
    r = e2e.run_cli("--folded", str(folded), "-e",
                    f'config = {{ show_debug_info = 0 }} '
                    f'uprobe:{nofp}:leaf {{ @[dw_ustack()] = count(); @n = count(); '
                    f'if (@n == 5) {{ exit(); }} }}', "-c", f"{nofp} 50", timeout=60)
    assert r.returncode == 0, r.stderr
    lines = folded.read_text().splitlines()
    assert [ln.rsplit(" ", 1)[1] for ln in lines] == ["5"], lines
    assert ";".join(reversed(CHAIN)) in lines[0], lines


def test_dw_ustack_maps_are_not_read_in_probes(e2e, nofp):
    r = e2e.run_cli("--dry-run", "-e", f"uprobe:{nofp}:leaf {{ @[dw_ustack()] = count(); "
                                       f"if (@[dw_ustack()] > 1) {{ exit(); }} }}")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert ("ERROR: @ is kept in user space (its key holds dw_ustack()): a probe can "
            "update, print, clear and zero it, not read it") in r.stderr, r.stderr
    for script in (f"uprobe:{nofp}:leaf {{ @[dw_ustack()] = count(); delete(@, dw_ustack()); }}",
                   f"uprobe:{nofp}:leaf {{ @[dw_ustack()] = count(); print(len(@)); }}"):
        r = e2e.run_cli("--dry-run", "-e", script)
        assert "ERROR: @ is kept in user space" in r.stderr and "Traceback" not in r.stderr
    r = e2e.run_cli("--dry-run", "-e", f"uprobe:{nofp}:leaf {{ @s = dw_ustack(); }}")
    assert "ERROR: dw_ustack() can not be a map value" in r.stderr, r.stderr
    r = e2e.run_cli("--dry-run", "-e", "BEGIN { print(dw_ustack()); }")
    assert "ERROR: dw_ustack() can not be used with 'BEGIN' probes" in r.stderr


def test_config_ustack_unwind_dwarf_makes_ustack_complete(e2e, nofp):
    # bpfscope's own config: ustack in probes that can unwind becomes dw_ustack
    out = run(e2e, nofp, 'config = { ustack_unwind = dwarf } '
                         f'profile:hz:499 /comm == "nofp"/ {{ printf("%s===\\n", ustack); '
                         f'@n = count(); if (@n == 20) {{ exit(); }} }} END {{ clear(@n); }}',
              "600", "spin")
    assert_whole_chains(out)
