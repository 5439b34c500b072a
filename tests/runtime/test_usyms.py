"""User symbolizer against real child processes: PIE and non-PIE
executables, libc, C++ demangling, resolution after the process exits,
deleted binaries, the vDSO and perf map files."""

import ctypes
import os
import shutil
import subprocess

import pytest

from bpfscope.runtime.usyms import UserSymbols, UserSymbol

PROGS = os.path.join(os.path.dirname(__file__), "progs")


def _build(tmp_path_factory, compiler, src, out, *flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    d = tmp_path_factory.mktemp("usymprogs")
    path = str(d / out)
    r = subprocess.run([compiler, "-O1", "-fno-inline", *flags, "-o", path,
                        os.path.join(PROGS, src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"{compiler} failed on {src}:\n{r.stderr}")
    return path


@pytest.fixture(scope="module")
def pie_prog(tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "usymprog.c", "usym_pie",
                  "-pie", "-fPIE")


@pytest.fixture(scope="module")
def nopie_prog(tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "usymprog.c", "usym_nopie",
                  "-no-pie", "-fno-pie")


@pytest.fixture(scope="module")
def cxx_prog(tmp_path_factory):
    return _build(tmp_path_factory, "g++", "usymprog.cpp", "usym_cxx")


class Child:
    """A running test program; .addrs are the addresses it printed."""

    def __init__(self, path):
        self.path = path
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        fields = self.proc.stdout.readline().split()
        self.pid = int(fields[-1])
        assert self.pid == self.proc.pid
        self.addrs = [int(f, 16) for f in fields[:-1]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        assert not os.path.exists(f"/proc/{self.pid}")


@pytest.fixture
def spawn():
    children = []

    def start(path):
        c = Child(path)
        children.append(c)
        return c

    yield start
    for c in children:
        c.stop()


def _libc_names():
    return {"getppid", "__getppid"}


@pytest.mark.parametrize("prog", ["pie_prog", "nopie_prog"])
def test_resolve_running_child(prog, request, spawn):
    path = request.getfixturevalue(prog)
    c = spawn(path)
    target, static, getppid, _sink = c.addrs
    u = UserSymbols()
    assert u.resolve(c.pid, target) == UserSymbol("usym_target", 0, path)
    assert u.resolve(c.pid, target + 7) == ("usym_target", 7, path)
    assert u.resolve(c.pid, static) == ("usym_static", 0, path)
    assert u.format(c.pid, target + 7) == "usym_target+7"
    assert u.format(c.pid, target, show_offset=False) == "usym_target"
    assert u.format(c.pid, target + 7, show_module=True) == \
        f"usym_target+7 ({path})"
    name, off, lib = u.resolve(c.pid, getppid)
    assert name in _libc_names() and off == 0
    assert os.path.basename(lib).startswith("libc")
    assert u.format(c.pid, getppid + 1).endswith("+1")


def test_non_pie_is_loaded_where_linked(nopie_prog, pie_prog, spawn):
    from bpfscope.elf import SymbolTable
    with SymbolTable(nopie_prog) as st:
        linked = st.lookup_one("usym_target").value
    c = spawn(nopie_prog)
    assert c.addrs[0] == linked  # bias 0
    with SymbolTable(pie_prog) as st:
        linked = st.lookup_one("usym_target").value
    c = spawn(pie_prog)
    assert c.addrs[0] != linked  # PIE: relocated


def test_unknown_addresses(pie_prog, spawn):
    c = spawn(pie_prog)
    u = UserSymbols()
    assert u.resolve(c.pid, 0x1) is None
    assert u.format(c.pid, 0x1) == "0x1"
    assert u.format(c.pid, 0x1, show_module=True) == "0x1 ([unknown])"
    assert u.format(c.pid, 0x7fffdeadbeef) == "0x7fffdeadbeef"
    assert u.format(c.pid, 0) == "0"


def test_unknown_pid():
    u = UserSymbols()
    # pid_max is at most 2**22: this pid cannot exist.
    assert u.resolve(2 ** 22 + 7, 0x401000) is None
    assert u.format(2 ** 22 + 7, 0x401000) == "0x401000"
    assert not u.preload(2 ** 22 + 7)


@pytest.mark.parametrize("prog", ["pie_prog", "nopie_prog"])
def test_preloaded_resolves_after_exit(prog, request, spawn):
    path = request.getfixturevalue(prog)
    c = spawn(path)
    target, static, getppid, _ = c.addrs
    u = UserSymbols()
    assert u.preload(c.pid)
    c.stop()
    assert u.resolve(c.pid, target + 3) == ("usym_target", 3, path)
    assert u.format(c.pid, static) == "usym_static+0"
    assert u.resolve(c.pid, getppid)[0] in _libc_names()


def test_cached_by_first_lookup_resolves_after_exit(pie_prog, spawn):
    c = spawn(pie_prog)
    target = c.addrs[0]
    u = UserSymbols()
    assert u.format(c.pid, target) == "usym_target+0"
    c.stop()
    assert u.format(c.pid, target + 1) == "usym_target+1"


def test_not_seen_before_exit(pie_prog, spawn):
    c = spawn(pie_prog)
    target = c.addrs[0]
    c.stop()
    u = UserSymbols()
    assert u.resolve(c.pid, target) is None
    assert u.format(c.pid, target) == f"{target:#x}"


def test_forget(pie_prog, spawn):
    c = spawn(pie_prog)
    u = UserSymbols()
    u.preload(c.pid)
    assert c.pid in u.known_pids()
    c.stop()
    u.forget(c.pid)
    assert u.resolve(c.pid, c.addrs[0]) is None


def test_tables_shared_between_pids(pie_prog, spawn):
    a, b = spawn(pie_prog), spawn(pie_prog)
    u = UserSymbols()
    u.preload(a.pid)
    u.preload(b.pid)
    ra = u._procs[a.pid].find(a.addrs[0])
    rb = u._procs[b.pid].find(b.addrs[0])
    assert ra.table is rb.table and ra.table is not None
    # Different load addresses (ASLR), same answer.
    assert u.format(a.pid, a.addrs[0] + 2) == u.format(b.pid, b.addrs[0] + 2) \
        == "usym_target+2"


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="/proc/PID/map_files needs root")
def test_deleted_binary(pie_prog, tmp_path, spawn):
    copy = str(tmp_path / "gone")
    shutil.copy(pie_prog, copy)
    c = spawn(copy)
    os.unlink(copy)
    u = UserSymbols()
    assert u.resolve(c.pid, c.addrs[0] + 1) == ("usym_target", 1, copy)


def test_replaced_binary_after_preload(pie_prog, nopie_prog, tmp_path, spawn):
    copy = str(tmp_path / "replaced")
    shutil.copy(pie_prog, copy)
    c = spawn(copy)
    u = UserSymbols()
    u.preload(c.pid)
    c.stop()
    # A different file at the same path must not be used for the old pid.
    os.unlink(copy)
    shutil.copy(nopie_prog, copy)
    assert u.resolve(c.pid, c.addrs[0]) == ("usym_target", 0, copy)


def test_cpp_demangle(cxx_prog, spawn):
    c = spawn(cxx_prog)
    work = c.addrs[0]
    u = UserSymbols()
    assert u.format(c.pid, work + 4) == "ns::work(int, char const*)+4"
    assert u.format(c.pid, work, demangle=False) == "_ZN2ns4workEiPKc+0"
    raw = UserSymbols(demangle=False)
    assert raw.resolve(c.pid, work).name == "_ZN2ns4workEiPKc"
    assert raw.format(c.pid, work, show_offset=False, demangle=True) == \
        "ns::work(int, char const*)"


def test_perf_map(pie_prog, tmp_path, spawn):
    c = spawn(pie_prog)
    (tmp_path / f"perf-{c.pid}.map").write_text(
        "1000 40 jitted_a\n2000 10 Lambda$1.run(int)\nzz bad line\n")
    u = UserSymbols(perf_map_dir=str(tmp_path), refresh_interval=3600)
    mp = str(tmp_path / f"perf-{c.pid}.map")
    assert u.resolve(c.pid, 0x1004) == ("jitted_a", 4, mp)
    assert u.format(c.pid, 0x2001, show_module=True) == \
        f"Lambda$1.run(int)+1 ({mp})"
    assert u.resolve(c.pid, 0x1040) is None  # past the entry's size
    assert u.resolve(c.pid, 0x0fff) is None


def test_vdso_of_this_process():
    u = UserSymbols()
    pid = os.getpid()
    vdso = None
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("[vdso]"):
                vdso = int(line.split("-")[0], 16)
    if vdso is None:
        pytest.skip("no vDSO mapped")
    table = u._vdso_table()
    if table is None:
        pytest.skip("cannot read the vDSO image")
    fn = next(s for s in table.functions())
    r = u.resolve(pid, vdso + fn.value + 1)
    assert r is not None and r.offset == 1 and r.path == "[vdso]"
    assert r.name.endswith(fn.name.replace("__vdso_", ""))


def test_this_process_libc():
    u = UserSymbols()
    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    name, off, path = u.resolve(os.getpid(), addr + 5)
    assert name == "malloc" and off == 5 and "libc" in path


def test_dlopen_after_first_read(tmp_path):
    # Maps read before a library is loaded: a miss re-reads them.
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "late.c"
    src.write_text("int late_fn(int x) { return x * 5 + 1; }\n")
    so = str(tmp_path / "liblate.so")
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", so, str(src)],
                   check=True)
    u = UserSymbols(refresh_interval=0)
    pid = os.getpid()
    u.preload(pid)
    h = ctypes.CDLL(so)
    addr = ctypes.cast(h.late_fn, ctypes.c_void_p).value
    assert u.resolve(pid, addr + 2) == ("late_fn", 2, so)


def test_exited_process_resolves_through_mmap_records(pie_prog, spawn):
    """A process never looked at while it ran: the kernel's mmap records
    (bpf.mmapevents) stand in for its /proc/PID/maps."""
    if os.geteuid() != 0:
        pytest.skip("perf mmap records of other processes need root")
    from bpfscope.bpf.mmapevents import MmapEvents
    ev = MmapEvents()
    try:
        c = spawn(pie_prog)
        target = c.addrs[0]
        c.stop()
        u = UserSymbols()
        u.record_from(ev.read)
        assert u.resolve(c.pid, target + 3) == ("usym_target", 3, pie_prog)
        recs = u._recorded[c.pid]
        assert {r.path for r in recs} >= {pie_prog, "[vdso]"}
        assert all("x" in r.perms for r in recs)
    finally:
        ev.close()
    # without the records the same lookup cannot be done
    assert UserSymbols().resolve(c.pid, target) is None


def test_decode_mmap2_record():
    import struct
    from bpfscope.bpf.mmapevents import (PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC,
                                         PERF_RECORD_MMAP2, Exec, MappedFile, decode_record)
    body = struct.pack("<IIQQQIIQQII", 42, 43, 0x1000, 0x2000, 0x3000, 0xfe, 1, 777, 0,
                       5, 2) + b"/usr/bin/x\0\0\0\0\0\0"
    assert decode_record(PERF_RECORD_MMAP2, 0, body) == MappedFile(
        42, 0x1000, 0x3000, 0x3000, "fe:01", 777, "r-xp", "/usr/bin/x")
    comm = struct.pack("<II", 42, 42) + b"ls\0\0\0\0\0\0"
    assert decode_record(PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC, comm) == Exec(42, "ls")
    assert decode_record(PERF_RECORD_COMM, 0, comm) is None  # a rename, not an exec


# -- hostile perf maps: /tmp is everyone's, the tracer is root


def _resolve_within(u, pid, addr, timeout=10.0):
    """u.resolve(pid, addr) in a thread; fails the test (rather than
    hanging it) when it does not return in time."""
    import threading
    out = []
    t = threading.Thread(target=lambda: out.append(u.resolve(pid, addr)), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the perf map read blocked"
    return out[0]


def _map_text(n=1):
    return "".join(f"{0x1000 * (i + 1):x} 40 jitted_{i}\n" for i in range(n))


def test_perf_map_fifo_does_not_block(tmp_path, capsys):
    pid = os.getpid()
    os.mkfifo(tmp_path / f"perf-{pid}.map")
    u = UserSymbols(perf_map_dir=str(tmp_path), refresh_interval=3600)
    assert _resolve_within(u, pid, 0x1004) is None
    assert "not a regular file" in capsys.readouterr().err


def test_perf_map_symlink_is_not_followed(tmp_path, capsys):
    """A link to /dev/zero (endless), or to a good map: neither is read."""
    pid = os.getpid()
    good = tmp_path / "elsewhere.map"
    good.write_text(_map_text())
    for target in ("/dev/zero", str(good)):
        link = tmp_path / f"perf-{pid}.map"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)
        u = UserSymbols(perf_map_dir=str(tmp_path), refresh_interval=3600)
        assert _resolve_within(u, pid, 0x1004) is None
    assert "a symbolic link" in capsys.readouterr().err


def test_perf_map_of_a_foreign_owner_is_ignored(tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file another owner")
    pid = os.getpid()
    path = tmp_path / f"perf-{pid}.map"
    path.write_text(_map_text())
    os.chown(path, 65534, 65534)       # planted by nobody for a root process
    u = UserSymbols(perf_map_dir=str(tmp_path), refresh_interval=3600)
    assert _resolve_within(u, pid, 0x1004) is None
    assert "owned by uid 65534" in capsys.readouterr().err
    os.chown(path, 0, 0)               # root's file: trusted (mtime kept, inode same)
    os.utime(path, ns=(1, 1))
    assert _resolve_within(u, pid, 0x1004) == ("jitted_0", 4, str(path))


def test_perf_map_owned_by_the_process_user_is_read(tmp_path):
    """A JIT running as nobody writes its own map: believed for that
    process, and a map of a third user is not."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a process as another user")
    from bpfscope.runtime.usyms import read_perf_map
    child = subprocess.Popen(["sleep", "30"], user=65534, group=65534)
    try:
        path = tmp_path / f"perf-{child.pid}.map"
        path.write_text(_map_text(3))
        os.chown(path, 65534, 65534)
        starts, entries = read_perf_map(str(path), child.pid)
        assert starts == [0x1000, 0x2000, 0x3000] and entries[2][2] == "jitted_2"
        os.chown(path, 4242, 4242)
        assert read_perf_map(str(path), child.pid) == ([], [])
    finally:
        child.kill()
        child.wait()


def test_oversized_perf_map_is_ignored(tmp_path, monkeypatch, capsys):
    from bpfscope.runtime import usyms
    monkeypatch.setattr(usyms, "PERF_MAP_MAX_BYTES", 1000)
    pid = os.getpid()
    path = tmp_path / f"perf-{pid}.map"
    path.write_text(_map_text(100))    # ~1.6 kB
    assert usyms.read_perf_map(str(path), pid) == ([], [])
    assert "bigger than" in capsys.readouterr().err
    path.write_text(_map_text(10))
    assert len(usyms.read_perf_map(str(path), pid)[0]) == 10
