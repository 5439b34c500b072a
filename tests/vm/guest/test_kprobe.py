"""kprobe and kretprobe in the lane's kernels (6.1: kprobe PMU; 6.12: also
kprobe_multi links for wildcards): exact counts of a helper's openat calls,
retval, wildcards with func, the tracefs kprobe_events fallback (removed
again at exit), kprobes running as fentry when switched off, -l."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.vmlane

N = 7
NOPE = "/nonexistent/bpfscope-kprobe"
KPROBE_EVENTS = Path("/sys/kernel/tracing/kprobe_events")


def series() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int(minor)


# A kretprobe's retval is the whole return register: do_sys_openat2 returns
# long up to 6.x and int in 7.x, whose -2 leaves the upper half zero
# (4294967294), hence (int32)retval.


def run(cli, helper, prog, env=None):
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        return cli("-c", f"{helper} open {NOPE} {N}", "-e", prog)
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_kprobe_and_kretprobe(cli, bse2e):
    """Exact counts, arg0, func, probe, retval and a +0 offset in one run
    (each run costs seconds under emulation)."""
    r = run(cli, bse2e, 'kprobe:do_sys_openat2 /comm == "bse2e"/ '
                        '{ @[func, (int32)arg0, probe] = count(); } '
                        'kprobe:do_sys_openat2+0 /comm == "bse2e"/ { @off = count(); } '
                        'kretprobe:do_sys_openat2 /comm == "bse2e"/ { @ret[(int32)retval] = count(); }')
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 3 probes\n"
    assert f"@[do_sys_openat2, -100, kprobe:do_sys_openat2]: {N}\n" in r.stdout
    assert f"@off: {N}\n" in r.stdout
    assert f"@ret[-2]: {N}\n" in r.stdout  # -ENOENT


def test_wildcards(cli, bse2e):
    r = run(cli, bse2e, 'kprobe:do_sys_openat* /comm == "bse2e"/ { @[func] = count(); } '
                        'kretprobe:do_sys_openat* /comm == "bse2e"/ { @r[func, (int32)retval] = count(); }')
    assert r.returncode == 0, r.stderr
    assert f"@[do_sys_openat2]: {N}\n" in r.stdout
    assert f"@r[do_sys_openat2, -2]: {N}\n" in r.stdout


def test_kprobe_multi_where_the_kernel_has_it():
    from bpfscope.attach import kprobe
    from bpfscope.lang.parser import parse
    assert kprobe.kprobe_multi_ok() == (series() >= (6, 12))
    ap = parse("kprobe:vfs_rea* {}").probes[0].attach_points[0]
    probes = kprobe.Kprobe().expand(ap, "kprobe", None)
    modes = {p.target.mode for p in probes}
    assert modes == ({"multi"} if series() >= (6, 12) else {"pmu"})
    # one function by name: always a perf event of the kprobe PMU
    ap = parse("kprobe:vfs_read {}").probes[0].attach_points[0]
    assert kprobe.Kprobe().expand(ap, "kprobe", None)[0].target.mode == "pmu"


@pytest.mark.parametrize("mode", ["multi", "pmu", "tracefs"])
def test_attach_modes(cli, bse2e, mode):
    if mode == "multi" and series() < (6, 12):
        pytest.skip("no kprobe_multi before 6.12 (Debian's 6.1 lacks CONFIG_FPROBE)")
    r = run(cli, bse2e, 'kprobe:do_sys_openat2 /comm == "bse2e"/ { @ = count(); } '
                        'kretprobe:do_sys_openat2 /comm == "bse2e"/ { @r[(int32)retval] = count(); }',
            {"BPFSCOPE_KPROBE_ATTACH": mode})
    assert r.returncode == 0, r.stderr
    assert f"@: {N}\n" in r.stdout and f"@r[-2]: {N}\n" in r.stdout
    assert "bpfscope" not in KPROBE_EVENTS.read_text()


def test_kprobe_runs_as_fentry_without_kprobes(cli, bse2e):
    r = run(cli, bse2e, 'kprobe:do_sys_openat2 /comm == "bse2e"/ { @[probe] = count(); }',
            {"BPFSCOPE_NO_KPROBES": "1"})
    assert r.returncode == 0, r.stderr
    assert f"@[kprobe:do_sys_openat2]: {N}\n" in r.stdout
    assert r.stderr.count("kprobe probes run as fentry probes") == 1, r.stderr


def test_neither_kprobe_nor_fentry(cli):
    r = run(cli, "/bin/true", 'kprobe:do_sys_openat2 { @ = count(); }',
            {"BPFSCOPE_NO_KPROBES": "1", "BPFSCOPE_NO_FENTRY": "1"})
    assert r.returncode == 1
    assert "ERROR: kprobe:do_sys_openat2 cannot be attached: kprobes are switched off" \
        in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_function(cli):
    r = cli("-e", "kprobe:bpfscope_no_such_function { @ = count(); }")
    assert r.returncode == 1
    assert "kernel function not found: bpfscope_no_such_function" in r.stderr


def test_listing(cli):
    r = cli("-l", "kprobe:do_sys_openat*")
    assert r.returncode == 0, r.stderr
    assert "kprobe:do_sys_openat2\n" in r.stdout
    assert all(line.startswith("kprobe:do_sys_openat") for line in r.stdout.splitlines())
