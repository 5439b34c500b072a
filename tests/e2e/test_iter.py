"""iter: probes run for real: the test's own helper process, waiting, is
one of the tasks the iterator walks; its open files and its mappings are
found as /proc says they are. The kernel may refuse iterator links: the
tests then skip with its reason."""

from __future__ import annotations

import os

import pytest

from bpfscope.attach import iter as iter_provider

pytestmark = pytest.mark.usefixtures("kernel")


@pytest.fixture(scope="module")
def iterators():
    why = iter_provider.iter_status()
    if why is not None:
        pytest.skip(f"BPF iterators cannot be used here: {why}")


def test_task_iterator_walks_the_helper(e2e, waiting, iterators, no_leaks):
    child = waiting("sleep", "1")
    try:
        r = e2e.run_cli("-e", 'iter:task /ctx.task.pid == $1/ '
                        '{ printf("%s:%d %s\\n", ctx.task.comm, ctx.task.tgid, probe); '
                        '@tasks = count(); }', str(child.pid))
    finally:
        child.kill()
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 1 probe\n"
    # one thread; the session ends by itself once the iterator is read
    assert r.stdout == f"bse2e:{child.pid} iter:task\n\n\n@tasks: 1\n", r.stdout


def lines_for(e2e, child, script: str) -> list[str]:
    """The output lines of iterator ``script`` run with the helper's pid as $1."""
    r = e2e.run_cli("-q", "-e", script, str(child.pid))
    assert r.returncode == 0, r.stderr
    return r.stdout.split("\n\n")[0].splitlines()


def test_task_file_gives_the_helpers_fds(e2e, waiting, iterators, no_leaks):
    child = waiting("sleep", "1")
    try:
        want = sorted((int(fd), os.stat(f"/proc/{child.pid}/fd/{fd}").st_ino)
                      for fd in os.listdir(f"/proc/{child.pid}/fd"))
        got = lines_for(e2e, child, 'iter:task_file /ctx.task.pid == $1/ '
                        '{ printf("%d %d\\n", ctx.fd, ctx.file.f_inode.i_ino); }')
    finally:
        child.kill()
    assert sorted(tuple(map(int, line.split())) for line in got) == want


def test_task_vma_gives_the_helpers_mappings(e2e, waiting, iterators, no_leaks):
    child = waiting("sleep", "1")
    try:
        with open(f"/proc/{child.pid}/maps") as f:
            want = [line.split()[0] for line in f]
        got = lines_for(e2e, child, 'iter:task_vma /ctx.task.pid == $1/ '
                        '{ printf("%lx-%lx\\n", ctx.vma.vm_start, ctx.vma.vm_end); }')
    finally:
        child.kill()
    # /proc prints at least 8 hex digits; the vsyscall page is no vma
    assert [f"{int(a, 16):08x}-{int(b, 16):08x}" for a, b in
            (g.split("-") for g in got)] == [w for w in want if not w.startswith("ffffffffff600000")]


@pytest.fixture
def bpffs(tmp_path):
    """A bpffs of the test's own, mounted in its tmp dir."""
    import subprocess
    where = tmp_path / "bpffs"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "bpf", "bpf", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a bpffs: {r.stderr.strip()}")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_pinned_iterator_stays_and_runs_when_read(e2e, iterators, bpffs, no_leaks):
    path = bpffs / "tasks"
    try:
        r = e2e.run_cli("-e", f'iter:task:{path} {{ $n = ctx.task.pid; }}')
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"Program pinned to {path}\n\n\n", r.stdout
        with open(path, "rb") as f:   # the pin outlives the tracer; reading runs it
            assert f.read() == b""
    finally:
        if path.exists():
            path.unlink()


def test_an_iterator_runs_alone(e2e):
    r = e2e.run_cli("-e", "iter:task { } BEGIN { }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:1-10: ERROR: Iterator probe can't be mixed with any other "
                        "probe, not even another iterator\n"
                        "iter:task { } BEGIN { }\n"
                        "~~~~~~~~~\n")
