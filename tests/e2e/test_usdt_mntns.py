"""USDT targets by pid, in another mount namespace, by glob, and
semaphores in several processes, for real: the test's own program, built
here against <sys/sdt.h>, fires a probe on every turn of a loop and a
second one only while its semaphore is raised."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")
SDT_H = "/usr/include/x86_64-linux-gnu/sys/sdt.h"

LOOP_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <unistd.h>
unsigned short lp_tick_semaphore __attribute__((unused, section(".probes")));
unsigned short lp_sem_semaphore __attribute__((unused, section(".probes")));
volatile int n;
int main(void) {
  for (;;) {
    n++;
    DTRACE_PROBE1(lp, tick, n);
    if (lp_sem_semaphore) DTRACE_PROBE1(lp, sem, n);
    usleep(10000);
  }
}
"""


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    if not shutil.which("gcc") or not os.path.exists(SDT_H):
        pytest.skip("needs gcc and <sys/sdt.h> (systemtap-sdt-dev)")
    d = tmp_path_factory.mktemp("usdt_mntns") / "inside"
    d.mkdir()
    (d / "loop.c").write_text(LOOP_C)
    subprocess.run(["gcc", "-O1", "-o", str(d / "loop"), str(d / "loop.c")], check=True)
    return str(d / "loop")


@pytest.fixture
def contained(loop, tmp_path, e2e):
    """(pid, path inside) of the loop running in a mount namespace of its
    own, where a bind mount puts it at a path that is empty outside."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with e2e.in_mount_namespace(os.path.dirname(loop), mnt, "loop") as contained:
        yield contained


def _counts(e2e, *args):
    r = e2e.run_cli(*args, timeout=30)
    assert r.returncode == 0, r.stderr
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^@\[(.*)\]: (\d+)$", r.stdout, re.M)}


@pytest.mark.parametrize("target", ["PATH", "", "*", "GLOB"],
                         ids=["path", "no-path", "star", "glob"])
def test_usdt_in_another_mount_namespace_by_pid(e2e, no_leaks, contained, target):
    pid, path = contained
    written = {"PATH": path, "GLOB": path[:-2] + "*"}.get(target, target)
    counts = _counts(e2e, "-p", str(pid), "-e",
                     f"usdt:{written}:lp:tick {{ @[probe] = count(); }} "
                     f"usdt:{written}:lp:sem {{ @[probe] = count(); }} "
                     "interval:ms:300 { exit(); }")
    # named by the path the process knows; the semaphore raised in it
    assert sorted(counts) == [f"usdt:{path}:lp:sem", f"usdt:{path}:lp:tick"], counts
    assert min(counts.values()) > 5, counts


def test_listing_by_pid_without_a_path(e2e, contained):
    pid, path = contained
    r = e2e.run_cli("-l", "-p", str(pid), "usdt::lp:*")
    assert r.stdout.splitlines() == [f"usdt:{path}:lp:sem", f"usdt:{path}:lp:tick"]


def test_no_path_needs_a_pid(e2e):
    r = e2e.run_cli("-e", "usdt::lp:tick { }")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "stdin:1:1-14: ERROR: usdt probe type should have a target"


def test_semaphore_in_several_processes(e2e, loop, no_leaks):
    """Without -p the kernel raises the semaphore in every process of the
    file: two running before the trace and one started after it."""
    before = [subprocess.Popen([loop]) for _ in range(2)]
    try:
        t = e2e.Trace("-e", f"usdt:{loop}:lp:sem {{ @[pid] = count(); }} "
                            "interval:ms:800 { exit(); }")
        after = subprocess.Popen([loop])
        before.append(after)
        out, err = t.finish()
    finally:
        for p in before:
            p.kill()
            p.wait()
    assert t.returncode == 0, err
    counts = {int(k): int(v) for k, v in re.findall(r"^@\[(\d+)\]: (\d+)$", out, re.M)}
    assert set(counts) == {p.pid for p in before}, out
    assert min(counts.values()) > 3, out


def test_wildcard_files_on_the_host(e2e, loop, no_leaks):
    p = subprocess.Popen([loop])
    try:
        glob = os.path.join(os.path.dirname(loop)[:-3] + "*", "lo*")
        counts = _counts(e2e, "-e", f"usdt:{glob}:lp:tick {{ @[probe] = count(); }} "
                                    "interval:ms:300 { exit(); }")
    finally:
        p.kill()
        p.wait()
    assert list(counts) == [f"usdt:{loop}:lp:tick"], counts
    assert counts[f"usdt:{loop}:lp:tick"] > 5
