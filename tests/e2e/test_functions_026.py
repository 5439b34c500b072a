"""bpftrace 0.26's functions and constants of issue 12 point 3, over
events each test causes itself: syscall_name and __NR_* numbers on
raw_syscalls, strerror of errno names, pcomm of a renamed thread."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def test_syscall_name_and_nr_numbers_of_the_helpers_calls(e2e, helper):
    r = e2e.run_cli("-q", "-c", f"{helper} getpid 2", "-e",
                    'tracepoint:raw_syscalls:sys_enter /pid == cpid && '
                    '(args.id == __NR_getpid || args.id == __NR_getppid)/ { '
                    'printf("%d %s\\n", args.id, syscall_name(args.id)); '
                    '@[syscall_name(args.id)] = count(); }')
    assert r.returncode == 0, r.stderr
    head, maps = r.stdout.split("\n\n\n")
    assert head == "39 getpid\n39 getpid\n110 getppid\n110 getppid"
    assert sorted(maps.splitlines()) == ["@[getpid]: 2", "@[getppid]: 2"]


def test_strerror_of_errno_names(e2e, helper):
    r = e2e.run_cli("-q", "-c", f"{helper} getpid 1", "-e",
                    '#include <errno.h>\n'
                    'tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { '
                    'printf("%s|%s|%d\\n", strerror(EPERM), strerror(ENOENT), EAGAIN); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "Operation not permitted|No such file or directory|11"


THREAD = """
import ctypes, threading
libc = ctypes.CDLL(None, use_errno=True)
def work():
    libc.prctl(15, b"bse-worker", 0, 0, 0)   # PR_SET_NAME of this thread
    libc.syscall(39)                          # getpid
t = threading.Thread(target=work)
t.start()
t.join()
"""


def test_pcomm_is_the_process_name_in_a_renamed_thread(e2e, tmp_path):
    prog = tmp_path / "thread.py"
    prog.write_text(THREAD)
    r = e2e.run_cli("-q", "-c", f"{sys.executable} {prog}", "-e",
                    'tracepoint:syscalls:sys_enter_getpid /pid == cpid && comm == "bse-worker"/ { '
                    'printf("%s %s %s\\n", comm, pcomm, pcomm(curtask)); }')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    name = __import__("os").path.basename(sys.executable)[:15]
    assert lines[0] == f"bse-worker {name} {name}"
