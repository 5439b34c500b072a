"""bpftrace 0.26's functions and constants of issue 12 point 3, over
events each test causes itself: syscall_name and __NR_* numbers on
raw_syscalls, strerror of errno names, pcomm of a renamed thread,
usermode, write_user, debugf, cgroup_path, printf %gr and strftime %f."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def traced(e2e, helper, prog: str, n: int = 1) -> str:
    """stdout of ``prog`` run while the helper calls getpid and getppid
    ``n`` times each."""
    r = e2e.run_cli("-q", "-c", f"{helper} getpid {n}", "-e", prog)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_syscall_name_and_nr_numbers_of_the_helpers_calls(e2e, helper):
    out = traced(e2e, helper, 'tracepoint:raw_syscalls:sys_enter /pid == cpid && '
                 '(args.id == __NR_getpid || args.id == __NR_getppid)/ { '
                 'printf("%d %s\\n", args.id, syscall_name(args.id)); '
                 '@[syscall_name(args.id)] = count(); }', n=2)
    head, maps = out.split("\n\n\n")
    assert head == "39 getpid\n39 getpid\n110 getppid\n110 getppid"
    assert sorted(maps.splitlines()) == ["@[getpid]: 2", "@[getppid]: 2"]


def test_strerror_of_errno_names(e2e, helper):
    out = traced(e2e, helper, '#include <errno.h>\n'
                 'tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { '
                 'printf("%s|%s|%d\\n", strerror(EPERM), strerror(ENOENT), EAGAIN); }')
    assert out.splitlines()[0] == "Operation not permitted|No such file or directory|11"


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


PROG = r"""
#include <unistd.h>
volatile long bse_sink;
__attribute__((noipa)) long bse_work(long n) { long s = 0; for (long i = 0; i < n; i++) s += i ^ (s >> 3); return s; }
int main(void) { for (int i = 0; i < 3; i++) bse_sink += bse_work(1000 + i); syscall(39); return 0; }
"""


@pytest.fixture(scope="module")
def uprog(tmp_path_factory, kernel, e2e) -> str:
    return e2e.build_c(tmp_path_factory, PROG, "bse026")


def test_usermode_in_begin_end_uprobe_and_tracepoint(e2e, uprog):
    r = e2e.run_cli("-q", "-c", uprog, "-e",
                    'BEGIN { printf("begin %d\\n", usermode); } '
                    f'uprobe:{uprog}:bse_work {{ @u[usermode] = count(); }} '
                    'tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { @t[usermode()] = count(); } '
                    'END { printf("end %d\\n", usermode); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("begin 1\n")
    assert "end 1\n" in r.stdout
    assert "@u[1]: 3\n" in r.stdout and "@t[0]: 1\n" in r.stdout


WRITE_PROG = r"""
#include <stdio.h>
char bse_buf[32] = "original text";
__attribute__((noipa)) void bse_touch(char *p, long *n) { __asm__ volatile("" ::: "memory"); }
int main(void) { long n = 7; bse_touch(bse_buf, &n); printf("%s %ld\n", bse_buf, n); return 0; }
"""


@pytest.fixture(scope="module")
def wprog(tmp_path_factory, kernel, e2e) -> str:
    return e2e.build_c(tmp_path_factory, WRITE_PROG, "bsewu")


def test_write_user_is_refused_without_unsafe(e2e, wprog):
    r = e2e.run_cli("-e", f'uprobe:{wprog}:bse_touch {{ write_user(arg0, "x", 2); }}')
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("stdin:1:")
    assert "ERROR: write_user() is unsafe. To use you need the --unsafe flag" in r.stderr


def test_write_user_changes_the_traced_programs_memory(e2e, wprog):
    r = e2e.run_cli("-q", "--unsafe", "-c", wprog, "-e",
                    f'uprobe:{wprog}:bse_touch {{ $s = "patched!"; '
                    'printf("%d %d\\n", write_user(arg0, $s, 9), write_user(arg1, (int64)42, 8)); }')
    if "does not let this program type call bpf_probe_write_user" in r.stderr:
        # the kernel gives the helper only to CAP_SYS_ADMIN outside lockdown
        pytest.skip(r.stderr.splitlines()[0])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == ["1 1", "patched! 42"]


def _trace_file() -> str | None:
    import os
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(d + "/trace"):
            return d + "/trace"
    return None


def test_debugf_writes_to_the_kernels_trace_buffer(e2e, helper):
    import os
    import time
    trace = _trace_file()
    if trace is None:
        pytest.skip("tracefs is not mounted: no trace buffer to read debugf() lines from")
    mark = f"bse-debugf-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    r = e2e.run_cli("-q", "-c", f"{helper} getpid 2", "-e",
                    'tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { '
                    f'debugf("{mark} %d %s %lx\\n", pid, comm, 255); }}')
    assert r.returncode == 0, r.stderr
    assert "WARNING: The debugf() builtin is not recommended for production use." in r.stderr
    # the trace file is read, not consumed: other tracers' lines stay
    with open(trace, errors="replace") as f:
        lines = [ln.split("bpf_trace_printk: ", 1)[1] for ln in f if mark in ln]
    assert len(lines) == 2 and r.stdout.strip() == ""
    pid = lines[0].split()[1]
    assert lines == [f"{mark} {pid} bse2e ff\n"] * 2


def test_cgroup_path_of_a_cgroup_the_test_makes(e2e, helper):
    import os
    from bpfscope.sema.valuetext import cgroup_roots
    root = next((mount for name, mount in cgroup_roots() if name == "unified"), None)
    if root is None:
        pytest.skip("no cgroup2 hierarchy is mounted")
    name = f"bse-cgpath-{os.getpid()}"
    cg = os.path.join(root, name)
    try:
        os.mkdir(cg)
    except OSError as err:
        pytest.skip(f"cannot make a cgroup under {root}: {err.strerror}")
    ino = os.stat(cg).st_ino
    try:
        cmd = f"/bin/sh -c 'echo $$ > {cg}/cgroup.procs && exec {helper} getpid 1'"
        r = e2e.run_cli("-q", "-c", cmd, "-e",
                        # the shell's own getpid (for $$) comes before the move
                        'tracepoint:syscalls:sys_enter_getpid /pid == cpid && comm == "bse2e"/ { '
                        'printf("%d %s|%s\\n", cgroup, cgroup_path(cgroup, "unified"), '
                        'cgroup_path(cgroup)); @[cgroup_path(cgroup, "uni*")] = count(); }')
    finally:
        os.rmdir(cg)
    assert r.returncode == 0, r.stderr
    first, maps = r.stdout.split("\n\n\n")
    cgid, rest = first.split(" ", 1)
    want = f"unified:/{name}"
    assert int(cgid) == ino             # a cgroup's id is its directory's inode
    only, every = rest.split("|")
    assert only == want
    assert every.split(",")[0] == want
    assert maps == f"@[{want}]: 1\n"


def test_printf_gr_names_the_gfp_flags_of_real_allocations(e2e, helper):
    from bpfscope.runtime import gfpflags
    if not gfpflags.kernel_table():
        pytest.skip("no kmem tracepoint format with a GFP flags table on this kernel")
    r = e2e.run_cli("-q", "-c", f"{helper} open /tmp/bse-gr-nonexistent 3", "-e",
                    'tracepoint:kmem:kmalloc /pid == cpid/ { '
                    'printf("%x;%gr;%-12gr;\\n", args.gfp_flags, args.gfp_flags, 0xcc0); }')
    if "kmem" in r.stderr and r.returncode != 0:
        pytest.skip(r.stderr.splitlines()[0])
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln]
    assert lines, "the helper's openat calls allocate"
    for ln in lines:
        flags, text, kernel, _ = ln.split(";")
        # each name's bits are set in the flags, and together they make them up
        table = dict((n, m) for m, n in gfpflags.kernel_table())
        bits = 0
        for name in text.split("|"):
            bits |= int(name, 16) if name.startswith("0x") else table[name]
        assert bits == int(flags, 16)
        assert kernel == "GFP_KERNEL  "
    assert any("GFP_" in ln.split(";")[1] for ln in lines)


def test_strftime_f_is_microseconds(e2e):
    # 0.26's runtime cases: 123 us apart, within a second and across 1000 s
    r = e2e.run_cli("-q", "-e", 'BEGIN { printf("%s %s %s\\n", strftime("1%f", 1000123000), '
                    'strftime("1%f", 1000000123000), strftime("1%f", 0)); exit(); }')
    assert r.returncode == 0, r.stderr
    a, b, zero = (int(x) for x in r.stdout.split())
    assert (a - zero) % 1_000_000 == 123 and (b - zero) % 1_000_000 == 123


def test_syscall_name_and_cgroup_path_are_strings_in_json(e2e, helper):
    import json
    r = e2e.run_cli("-q", "-f", "json", "-c", f"{helper} getpid 1", "-e",
                    'tracepoint:syscalls:sys_enter_getpid /pid == cpid/ { '
                    'print(syscall_name(__NR_getpid)); @[syscall_name(args.__syscall_nr)] = 1; '
                    '@c = cgroup_path(cgroup, "unified"); }')
    assert r.returncode == 0, r.stderr
    recs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert {"type": "value", "data": "getpid"} in recs
    assert {"type": "map", "data": {"@": {"getpid": 1}}} in recs
    cg = next(x["data"]["@c"] for x in recs if x["type"] == "map" and "@c" in x["data"])
    assert isinstance(cg, str) and cg.startswith("unified:/")
