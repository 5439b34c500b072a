"""The VM test lane: the tests under tests/vm/guest/, run inside Debian's
generic kernels booted under QEMU one after another (vmlane.SERIES: 5.10,
6.1, 6.12 and sid's newest, see vmlane.py).

One boot per kernel runs every guest test with the host's Python and this
checkout: 139 to 223 s per kernel, 11 min 28 s for the lane with four
kernels on a 2-core machine other helpers' VMs and tests loaded to 6-7
(Dec 2026; 98 s for 5.10 and 132 s for 7.2 alone at a load of 5; README,
"VM test lane") (CLI runs fork from a zygote that imported
bpfscope once, the one-liners run in-process: a new Python costs seconds
of imports under emulation). On a machine too slow for that,
BPFSCOPE_VMLANE_QUICK=1 keeps every guest test on the oldest and the
newest kernel and runs the fast ones (QUICK: the smoke tests, the
one-liners, the kernel-range checks) on the kernels between them. The test skips, with the reason, when the lane cannot
run here (no QEMU and apt-get cannot install it, no kernel package
reachable, the VM fails to boot, or BPFSCOPE_VMLANE=0); it fails when the
guest's tests fail, with their output.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import vmlane

ROOT = Path(__file__).resolve().parents[2]
GUEST = Path(__file__).resolve().parent / "guest"
# The whole guest selection took 320-340 s per kernel on a 2-core machine
# with another VM running (Dec 2026, 34 tests); 300 s cut it off.
TIMEOUT = float(os.environ.get("BPFSCOPE_VMLANE_TIMEOUT", "600"))


QUICK = ("test_smoke.py", "test_oneliners.py", "test_kernel_range.py")


def full_suite(series: str) -> bool:
    """Whether ``series`` runs every guest test (all do, unless
    BPFSCOPE_VMLANE_QUICK leaves the middle ones QUICK)."""
    if os.environ.get("BPFSCOPE_VMLANE_QUICK", "0").lower() in ("0", "off", "no", "false", ""):
        return True
    return series in (vmlane.SERIES[0], vmlane.SERIES[-1])


def guest_command(full: bool = True, progs: dict[str, str] | None = None) -> str:
    """The guest's pytest run: every test under tests/vm/guest/, or QUICK;
    ``progs`` are the helper programs built on the host, by the
    environment variable that names each one to the guest tests."""
    where = GUEST.relative_to(ROOT)
    paths = [where] if full else [where / name for name in QUICK]
    env = "".join(f"{k}={shlex.quote(v)} " for k, v in sorted((progs or {}).items()))
    return (f"{env}exec {shlex.quote(sys.executable)} -m pytest -q -rA -p no:cacheprovider "
            + " ".join(shlex.quote(str(p)) for p in paths))


# helper programs the guest tests run, built on the host once for every
# kernel (gcc under emulation takes 5 to 20 s): the variable that names
# each one to the guest tests -> (file name, sources, extra gcc options)
PROGS = {
    "BPFSCOPE_VMLANE_BSE2E": ("bse2e", ("tests/e2e/progs/bse2e.c",), ("-static",)),
    "BPFSCOPE_VMLANE_WATCHED": ("watched", ("tests/e2e/progs/watched.c",), ("-static",)),
    "BPFSCOPE_VMLANE_INSN_ENTRY": ("insn_entry", ("tests/attach/progs/insn_entry.c",
                                                  "tests/attach/progs/insn_entry.S"), ()),
}


def build_progs() -> dict[str, str]:
    """PROGS built; those that did not build (no compiler) are left out."""
    import shutil
    gcc = shutil.which("gcc") or shutil.which("cc")
    built: dict[str, str] = {}
    if gcc is None:
        return built
    for var, (name, sources, opts) in PROGS.items():
        out = vmlane.cache_dir() / "progs" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f"{name}.{os.getpid()}")
        r = subprocess.run([gcc, "-O1", *opts, "-o", str(tmp), *(str(ROOT / s) for s in sources)],
                           capture_output=True, timeout=120)
        if r.returncode == 0:
            tmp.rename(out)
            built[var] = str(out)
    return built


def pytest_summary(output: str) -> str:
    """pytest's closing line without its '=' frame, e.g. '3 passed in 9.1s'."""
    for line in reversed(output.splitlines()):
        if re.search(r"\b(passed|failed|skipped|error|errors|no tests ran)\b", line):
            return line.strip("= ").strip()
    return "no pytest summary"


def precompile() -> None:
    """Byte-compile bpfscope on the host: the guest reads the host's files
    read-only, so without .pyc files (PYTHONDONTWRITEBYTECODE, a fresh
    clone) every guest process would compile every module under emulation."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "bpfscope"],
                   cwd=ROOT, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def lane_packages():
    if os.environ.get("BPFSCOPE_VMLANE", "1").lower() in ("0", "off", "no", "false"):
        pytest.skip("BPFSCOPE_VMLANE is set to turn the lane off")
    try:
        vmlane.ensure_packages()
    except vmlane.LaneUnavailable as e:
        pytest.skip(str(e))
    precompile()
    return build_progs()


@pytest.mark.parametrize("series", vmlane.SERIES)
def test_guest_tests(series, lane_packages, record_property):
    try:
        kit = vmlane.ensure_kit(series)
    except vmlane.LaneUnavailable as e:
        pytest.skip(str(e))
    # sid's kernel is whichever is newest there today: the summary says so
    newest = f" (the newest in Debian {vmlane.SUITES[series]})" if series == "sid" else ""
    record_property("kernel", kit.kver + newest)
    full = full_suite(series)
    record_property("suite", "all guest tests" if full else "quick guest tests")
    r = vmlane.boot(kit, guest_command(full, lane_packages), cwd=str(ROOT), timeout=TIMEOUT)
    record_property("seconds", f"{r.seconds:.1f}")
    record_property("start", f"{r.start:.1f}" if r.start is not None else "?")
    if r.error:
        log = vmlane.save_console(r, kit.kver)
        pytest.skip(f"the {kit.kver} VM failed: {r.error} (console in {log})")
    summary = pytest_summary(r.output)
    record_property("summary", summary)
    assert r.exit_code == 0, f"guest tests on {kit.kver} exited {r.exit_code}:\n{r.output}"
    assert " passed" in summary, f"no guest test passed on {kit.kver}:\n{r.output}"
