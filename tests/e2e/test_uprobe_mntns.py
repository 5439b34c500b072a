"""uprobes into a process of another mount namespace (a container's view
of the file system): with -p the paths are the process's, reached through
/proc/PID/root, and a target of only `*` means every file it runs code
from. The test makes its own namespace, where a bind mount puts its
program at a path that does not exist outside."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

C_SRC = r"""
#include <unistd.h>
volatile int sink;
__attribute__((noinline)) int mntns_target(int x) { asm volatile(""); return x * 2 + 1; }
int main(void) { for (;;) { sink = mntns_target(sink & 7); usleep(10000); } }
"""


@pytest.fixture
def contained(tmp_path, e2e):
    """(pid, path inside the namespace) of a program running in a mount
    namespace of its own, where only it sees that path."""
    if not shutil.which("gcc"):
        pytest.skip("needs gcc")
    inside, mnt = tmp_path / "inside", tmp_path / "mnt"
    inside.mkdir()
    mnt.mkdir()
    (inside / "prog.c").write_text(C_SRC)
    subprocess.run(["gcc", "-O1", "-o", str(inside / "prog"), str(inside / "prog.c")], check=True)
    with e2e.in_mount_namespace(inside, mnt, "prog") as contained:
        yield contained


def _counts(e2e, *args):
    r = e2e.run_cli(*args, timeout=30)
    assert r.returncode == 0, r.stderr
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^@\[(.*)\]: (\d+)$", r.stdout, re.M)}


@pytest.mark.parametrize("target", ["PATH:", "", "*:"], ids=["path", "no-path", "star"])
def test_a_process_in_another_mount_namespace_by_pid(e2e, no_leaks, contained, target):
    pid, path = contained
    spec = target.replace("PATH", path) + "mntns_target"
    counts = _counts(e2e, "-p", str(pid), "-e",
                     f"uprobe:{spec} {{ @[probe] = count(); }} interval:ms:300 {{ exit(); }}")
    # named by the path the process knows, not /proc/PID/root/...
    assert list(counts) == [f"uprobe:{path}:mntns_target"], counts
    assert counts[f"uprobe:{path}:mntns_target"] > 5


def test_without_pid_the_path_is_the_hosts(e2e, contained):
    pid, path = contained
    r = e2e.run_cli("-e", f"uprobe:{path}:mntns_target {{ @ = count(); }}")
    assert r.returncode == 1
    assert f"uprobe target file '{path}' does not exist or is not executable" in r.stderr
    assert "Traceback" not in r.stderr
