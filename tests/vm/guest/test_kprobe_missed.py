"""Kprobes that miss events for real, and the count reported at exit.

The kprobe on do_sys_openat2 runs a program that calls the helper
bpf_ktime_get_ns (``nsecs``) for each openat of the bse2e helper; a second
kprobe sits on bpf_ktime_get_ns itself. It fires while the first kprobe's
handler is running on the CPU, so the kernel skips it and counts it in
the kprobe's nmissed: exactly once per helper openat. The count is read
from the link's bpf_link_info (Linux 6.7+) or, for tracefs kprobes,
kprobe_profile (which is all 6.1 offers)."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.vmlane

N = 7
NOPE = "/nonexistent/bpfscope-missed"
PROG = ('kprobe:do_sys_openat2 /comm == "bse2e"/ { @t = nsecs; } '
        'kprobe:bpf_ktime_get_ns { @inner = count(); }')
WARNING = (f"WARNING: kprobe:bpf_ktime_get_ns: {N} events were missed: the kernel's "
           "kprobe missed them (another kprobe was running on the CPU, or a kretprobe "
           "had no free instance)\n")


def series() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int(minor)


def run(cli, helper, mode: str, *args: str):
    old = dict(os.environ)
    os.environ["BPFSCOPE_KPROBE_ATTACH"] = mode
    try:
        return cli(*args, "-c", f"{helper} open {NOPE} {N}", "-e", PROG)
    finally:
        os.environ.clear()
        os.environ.update(old)


@pytest.mark.parametrize("mode", ["pmu", "tracefs"])
def test_missed_kprobe_hits_are_reported(cli, bse2e, mode):
    if mode == "pmu" and series() < (6, 7):
        pytest.skip("bpf_link_info has no kprobe missed count before Linux 6.7")
    r = run(cli, bse2e, mode)
    assert r.returncode == 0, r.stderr
    # the inner kprobe never ran its program: every hit was missed (its
    # scalar count map prints as 0, or not at all)
    assert all(ln in ("", "@inner: 0") for ln in r.stdout.splitlines()
               if ln.startswith("@inner")), r.stdout
    assert r.stderr == "Attached 2 probes\n" + WARNING


def test_missed_events_json_record(cli, bse2e):
    r = run(cli, bse2e, "tracefs", "-f", "json")
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines() if line]
    missed = [x for x in records if x["type"] == "missed_events"]
    assert missed == [{"type": "missed_events", "count": N,
                       "data": {"probe": "kprobe:bpf_ktime_get_ns", "events": N,
                                "reason": "kprobe"}}]
    assert "WARNING" not in r.stderr
