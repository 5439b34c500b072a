"""The bundled tools that use kprobes (bpfscope/tools/*.bt), each run on the
lane's kernels in-process (guestlib.trace) against what the test's helper
did. Tools whose functions a kernel lacks (an unloaded module's, a
function renamed) must fail with the located 'not found' error, never a
traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bpfscope
from bpfscope.errors import BpfscopeError

from guestlib import N, NOPE, trace

pytestmark = pytest.mark.vmlane

TOOLS = Path(bpfscope.__file__).resolve().parent / "tools"


def tool(name: str) -> str:
    return (TOOLS / f"{name}.bt").read_text()


def counts(out: str, key: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(rf"^@\[{key}\]: (\d+)$", out, re.M)]


def test_dcsnoop_sees_the_helpers_lookups(bse2e):
    """kprobe lookup_fast, and the kprobe/kretprobe pair of d_lookup (one
    kprobe_session program where the kernel has them)."""
    code, out, err = trace(tool("dcsnoop"), [bse2e, "open", NOPE, str(N)])
    assert code == 0, err
    # lookup_fast's name is the rest of the path, as in bpftrace
    hits = [ln for ln in out.splitlines()
            if re.search(r"\bbse2e +[RM] nonexistent/bpfscope-oneliner$", ln)]
    assert len(hits) >= N, out


def test_vfscount_counts_the_helpers_opens(bse2e):
    """kprobe:vfs_* (one kprobe_multi link a function where the kernel has
    them, a kprobe each before) keyed by func."""
    code, out, err = trace(tool("vfscount"), [bse2e, "open", bse2e, str(N)])
    assert code == 0, err
    assert counts(out, "vfs_open") and counts(out, "vfs_open")[0] >= N, out


def test_vfsstat_prints_each_second(bse2e):
    """A list of kprobes, one with a wildcard, and interval:s:1 printing
    and clearing the map."""
    helper = ["sh", "-c", f"{bse2e} open {bse2e} {N}; {bse2e} sleep 1300"]
    code, out, err = trace(tool("vfsstat"), helper)
    assert code == 0, err
    assert re.search(r"^\d\d:\d\d:\d\d$", out, re.M), out
    assert counts(out, "vfs_open") and max(counts(out, "vfs_open")) >= N, out


@pytest.mark.parametrize("name,func", [("swapin", "swap_read_folio"),
                                       ("mdflush", "md_flush_request"),
                                       ("xfsdist", "xfs_file_read_iter")])
def test_tools_attach_or_say_what_is_missing(bse2e, name, func):
    """No swap, md or xfs in the guest: the tool attaches and prints
    nothing of its own, or (the function renamed, its module not loaded)
    fails naming the function."""
    try:
        code, out, err = trace(tool(name), [bse2e, "open", NOPE, "1"])
    except BpfscopeError as e:
        msg = e.format()
        assert "not found" in msg and func in msg, msg
        return
    assert code == 0, err


def _loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def test_loads_agrees_with_proc_loadavg():
    """loads reads avenrun[] itself (kaddr): each of its three values lies
    between /proc/loadavg's before and after it ran. Two busy loops first,
    so that the load is not 0."""
    with open("/proc/kallsyms") as f:
        if not any(l.split()[2:3] == ["avenrun"] for l in f):
            pytest.skip("this kernel's kallsyms has no avenrun (CONFIG_KALLSYMS_ALL)")
    import subprocess
    spin = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
    try:
        import time
        time.sleep(6)       # past one of the kernel's 5 s load samples
        before = _loadavg()
        code, out, err = trace(tool("loads"), ["sleep", "1.5"])
        after = _loadavg()
    finally:
        for p in spin:
            p.kill()
            p.wait()
    assert code == 0, err
    m = re.search(r"^\d\d:\d\d:\d\d load averages: (\d+\.\d{3}) (\d+\.\d{3}) (\d+\.\d{3})$",
                  out, re.M)
    assert m, out
    got = [float(x) for x in m.groups()]
    assert got[0] > 0, (got, before, after)
    # the compile in the guest may outlast a 5 s sample: the value read lies
    # between the two around it (rounded there to two decimals)
    for k in range(3):
        low, high = sorted((before[k], after[k]))
        assert low - 0.006 <= got[k] <= high + 0.006, (got, before, after)
