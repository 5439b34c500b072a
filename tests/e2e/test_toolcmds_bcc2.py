"""More of bcc's tools as bpfscope commands (drsnoop, biosnoop -Q,
offcputime's options, sslsniff, tcptop, ...), run on events the tests
cause. A tool that needs kernel functions (kprobes) says so here and
exits 1; its real run is in the VM lane (tests/vm)."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time

import pytest

from bpfscope.elf import SymbolTable, resolve_library

pytestmark = pytest.mark.usefixtures("kernel")

TOOLS = ["drsnoop", "biosnoop", "offcputime", "sslsniff", "tcptop", "filetop", "cachestat", "ext4slower", "xfsslower", "fileslower"]


def interrupted(t, settle: float = 1.0) -> str:
    """Ctrl-C a Trace once what the test caused has been read; its stdout
    (the exit status must be 0; ``t.err`` is then its stderr)."""
    time.sleep(settle)
    t.proc.send_signal(signal.SIGINT)
    out, t.err = t.finish(timeout=30)
    assert t.returncode == 0, t.err
    assert "Traceback" not in t.err, t.err
    return out


def child_traced(e2e, code: str, child_args: list[str], *tool_args: str,
                 ready=None, json_out: bool = False) -> tuple[str, int]:
    """conftest's child_traced: the tool run with -p on a python child."""
    return e2e.child_traced(code, child_args, *tool_args, ready=ready, json_out=json_out)


@pytest.mark.parametrize("tool", TOOLS)
def test_help_and_bad_options(e2e, tool):
    r = e2e.run_cli(tool, "-h")
    assert r.returncode == 0 and r.stdout.startswith(f"usage: bpfscope {tool} "), r
    assert "\nexamples:\n" in r.stdout and f"    bpfscope {tool}" in r.stdout
    r = e2e.run_cli(tool, "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r
    assert f"ERROR: bpfscope {tool}: unrecognized arguments: --no-such-option" in r.stderr, r
    r = e2e.run_cli(tool, "-p", "zero")
    assert r.returncode == 2 and "'zero' is not a number" in r.stderr, r


CTRL_C = {
    "drsnoop": ["-T"], "biosnoop": ["-Q"], "offcputime": ["-f"], "sslsniff": [],
    "tcptop": ["-C"], "filetop": ["-C"], "cachestat": ["-T"], "ext4slower": [],
    "xfsslower": [], "fileslower": [],
}


@pytest.mark.parametrize("tool", sorted(CTRL_C))
def test_each_ends_cleanly_on_ctrl_c(e2e, tool, no_leaks):
    if tool == "xfsslower":
        with open("/proc/filesystems") as f:
            if not any(l.split()[-1:] == ["xfs"] for l in f):
                pytest.skip("this kernel has no XFS")
    t = e2e.Trace(tool, *CTRL_C[tool])
    out = interrupted(t, 0.3)
    assert "ERROR" not in t.err, t.err
    assert out.strip() or tool == "offcputime", out    # its header, at least (-f has none)


# ------------------------------------------------------------------ drsnoop

def test_drsnoop_prints_its_header_and_ends_after_d(e2e, no_leaks):
    t = e2e.Trace("drsnoop", "-T", "-U")
    out = interrupted(t, 0.3)
    assert out.splitlines()[0].split() == ["TIME(s)", "UID", "COMM", "PID", "LAT(ms)", "PAGES"]
    assert "Attached 4 probes" in t.err, t.err       # direct and memcg, begin and end
    r = e2e.run_cli("drsnoop", "-t", "1", "-d", "1", timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["COMM", "TID", "LAT(ms)", "PAGES"], r


@pytest.fixture
def small_memcg(e2e):
    """A memory cgroup of the test's own limited to 16 MiB, and a 64 MiB
    file on disk that is not in the page cache: (the cgroup's procs file,
    the file)."""
    target = "/var/tmp" if os.path.isdir("/var/tmp") else "/tmp"
    path = os.path.join(target, f"drsnoop-{os.getpid()}.dat")
    with e2e.memory_cgroup("bpfscope-drsnoop", 16 << 20) as procs:
        try:
            with open(path, "wb") as f:
                for _ in range(64):
                    f.write(b"r" * (1 << 20))
                f.flush()
                os.fsync(f.fileno())
                # out of the cache, so that the reads charge the child's cgroup
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            yield procs, path
        finally:
            if os.path.exists(path):
                os.unlink(path)


# joins the cgroup (argv[1]), says so, and once told reads the file
# (argv[2]) twice: four times the cgroup's limit of page cache each time
CGROUP_READS = """
import os, sys
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.read(1)
for _ in range(2):
    with open(sys.argv[2], "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass
"""


def reclaimed(e2e, small_memcg, *args, json_out=False) -> tuple[str, int, str]:
    """drsnoop ARGS -p on a child reading more than its cgroup may hold:
    its stdout, the child's pid and comm."""
    comm = []

    def joined(child):
        assert child.stdout.readline() == "in\n"
        with open(f"/proc/{child.pid}/comm") as f:
            comm.append(f.read().strip())
    out, pid = child_traced(e2e, CGROUP_READS, list(small_memcg), "drsnoop", *args,
                            ready=joined, json_out=json_out)
    return out, pid, comm[0]


def test_drsnoop_reports_cgroup_limit_reclaim(e2e, small_memcg, no_leaks):
    out, pid, comm = reclaimed(e2e, small_memcg, "-T")
    lines = out.splitlines()
    assert lines[0].split() == ["TIME(s)", "COMM", "PID", "LAT(ms)", "PAGES"], out
    rows = [l.split() for l in lines[1:]]
    # 128 MiB read through a 16 MiB cgroup: it reclaims again and again
    assert len(rows) >= 10, out
    assert all(r[1] == comm[:14] and r[2] == str(pid) for r in rows), out
    assert all(re.fullmatch(r"\d+\.\d{9}", r[0]) and re.fullmatch(r"\d+\.\d\d", r[3])
               for r in rows), out
    assert [float(r[0]) for r in rows] == sorted(float(r[0]) for r in rows), out
    assert rows[0][0] == "0.000000000", out
    # every page read past the limit was reclaimed in the child's own time
    assert sum(int(r[4]) for r in rows) * os.sysconf("SC_PAGE_SIZE") >= 64 << 20, out


def test_drsnoop_json_says_which_kind_and_no_memcg_leaves_it_out(e2e, small_memcg):
    out, pid, comm = reclaimed(e2e, small_memcg, "-j", json_out=True)
    recs = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    dr = [r["data"] for r in recs if r.get("type") == "dr"]
    assert dr and {(d["pid"], d["comm"], d["kind"]) for d in dr} == {(pid, comm, "memcg")}, out
    assert all(d["lat_ns"] > 0 for d in dr), out
    out, _, _ = reclaimed(e2e, small_memcg, "--no-memcg")
    # the machine has memory to spare: no global reclaim for the child
    assert out.splitlines() == ["COMM           PID     LAT(ms) PAGES"], out


def test_drsnoop_verbose_without_the_counters_is_one_error(e2e):
    r = e2e.run_cli("drsnoop", "-v", timeout=60)
    with open("/proc/kallsyms") as f:
        has = any(l.split()[2:3] == ["vm_zone_stat"] for l in f)
    if has:
        pytest.skip("this kernel has vm_zone_stat in kallsyms: -v runs")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    assert r.stderr.startswith("ERROR: drsnoop: -v needs vm_zone_stat"), r


# ------------------------------------------------------------------ biosnoop -Q

@pytest.fixture
def direct_writes(tmp_path):
    """dd's four 64 KiB O_DIRECT writes to a file on a real disk: the -c
    command and the disk's name."""
    target = "/var/tmp" if os.path.isdir("/var/tmp") else str(tmp_path)
    dev = os.stat(target).st_dev
    if os.major(dev) == 0:
        pytest.skip(f"{target} is not on a block device")
    path = os.path.join(target, f"bs-q-{os.getpid()}")
    part = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    disk = os.path.basename(os.path.dirname(part)) if os.path.exists(
        os.path.join(part, "partition")) else os.path.basename(part)
    yield (f"dd if=/dev/zero of={path} bs=64k count=4 oflag=direct conv=fsync status=none",
           disk)
    if os.path.exists(path):
        os.unlink(path)


def test_biosnoop_queued_time_of_each_write(e2e, direct_writes, no_leaks):
    cmd, disk = direct_writes
    r = e2e.run_cli("biosnoop", "-Q", "-d", disk, "-c", cmd, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].split() == ["TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES",
                              "QUE(ms)", "LAT(ms)"], out
    rows = [l.split() for l in out[1:] if l.split()[1:2] == ["dd"]]
    writes = [r for r in rows if r[4] == "W" and r[6] == "65536"]
    assert len(writes) == 4, out
    for t, comm, pid, d, rw, sector, size, que, lat in writes:
        assert d == disk and float(que) >= 0 and float(lat) > 0, out
    assert len({r[5] for r in writes}) == 4, out           # four requests, four sectors


def test_biosnoop_without_options_keeps_bpftraces_layout(e2e, direct_writes):
    cmd, _ = direct_writes
    r = e2e.run_cli("biosnoop", "-c", cmd, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("TIME(ms)     DISK ID        COMM             PID    LAT(ms)\n")
    assert sum(1 for l in r.stdout.splitlines() if " dd " in l) >= 4, r.stdout


def test_biosnoop_unknown_disk_is_one_error(e2e):
    r = e2e.run_cli("biosnoop", "-Q", "-d", "nosuchdisk", timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    assert r.stderr == "ERROR: biosnoop: -d nosuchdisk: no such disk (see /sys/class/block)\n"


# ------------------------------------------------------------------ offcputime

SLEEPS = "import sys, time\nsys.stdin.read(1)\nfor _ in range(3):\n    time.sleep(0.2)\n"


def sleeper_traced(e2e, *args):
    """offcputime -p on a python child that, once told, sleeps three times
    200 ms and exits: its stdout and the child's pid."""
    return child_traced(e2e, SLEEPS, [], "offcputime", *args)


def test_offcputime_folded_kernel_stacks_of_sleeps(e2e, no_leaks):
    out, _ = sleeper_traced(e2e, "-K", "-f", "-m", "100000")
    lines = out.splitlines()
    assert lines and all(re.fullmatch(r"\S+ \d+", l) for l in lines), out   # no banner
    naps = [l for l in lines if ";do_nanosleep;" in l]
    assert len(naps) == 1, out              # -m: only the three long sleeps, one stack
    frames, us = naps[0].rsplit(" ", 1)
    assert frames.startswith("python"), out          # the child's comm, then its frames
    assert int(us) >= 3 * 200_000, out       # each sleep is 200 ms at least
    assert all(int(l.rsplit(" ", 1)[1]) >= 100_000 for l in lines), out


def test_offcputime_multi_line_layout_with_thread_ids(e2e):
    out, pid = sleeper_traced(e2e, "-d", "-M", "1000000")
    assert out.startswith(f"Tracing off-CPU time (us) of PID {pid} by user + kernel stack... "
                          "Hit Ctrl-C to end.\n"), out
    ends = re.findall(r"^    -                (\S+) \((\d+)\)\n        (\d+)$", out, re.M)
    assert ends and all(int(tid) == pid for _, tid, _ in ends), out   # one thread
    assert "    do_nanosleep\n" in out and "    --\n" in out, out
    assert all(int(us) <= 1_000_000 for _, _, us in ends), out


def test_offcputime_without_options_is_the_bt_tool(e2e, no_leaks):
    t = e2e.Trace("offcputime")
    out = interrupted(t, 0.5)
    assert out.startswith("Tracing off-CPU time... Hit Ctrl-C to end.\n"), out
    assert "@offcpu[" in out, out[:2000]


# ------------------------------------------------------------------ sslsniff

# a client that has loaded libssl (import ssl), waits for a byte on stdin,
# then asks the server for a page over TLS and reads all of it
TLS_CLIENT = """
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
sys.stdin.read(1)
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])))) as s:
    s.sendall(b"GET /bpfscope-sslsniff HTTP/1.0\\r\\n\\r\\n")
    while s.recv(65536):
        pass
"""


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, kernel):
    """``openssl s_server -www`` on a free 127.0.0.1 port: its port."""
    import shutil
    import socket
    openssl = shutil.which("openssl")
    lib = resolve_library("libssl", None)
    if openssl is None or lib is None or SymbolTable(lib).lookup_one("SSL_read_ex") is None:
        pytest.skip("needs the openssl command and libssl with SSL_read_ex")
    d = tmp_path_factory.mktemp("sslsniff")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = subprocess.Popen([openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-www",
                            "-cert", str(d / "cert.pem"), "-key", str(d / "key.pem")],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        while not srv.stdout.readline().startswith("ACCEPT"):   # listening
            assert srv.poll() is None, "openssl s_server ended"
        yield port
    finally:
        srv.kill()
        srv.wait()


def sniffed(e2e, port, *args) -> tuple[str, int]:
    """sslsniff ``-p`` on a TLS_CLIENT that fetches a page from the server:
    its stdout and the client's pid."""
    return child_traced(e2e, TLS_CLIENT, [str(port)], "sslsniff", *args)


def test_sslsniff_shows_the_request_and_the_page(e2e, tls_server, no_leaks):
    out, pid = sniffed(e2e, tls_server, "-x", "-l", "--handshake")
    assert out.startswith("FUNC         TIME(s)            COMM             PID     TID     "
                          "UID     LEN    LAT(ms)\n"), out
    heads = re.findall(r"^(\S+) +(\d+\.\d{9}) +(\S+) +(\d+) +(\d+) +(\d+) +(-?\d+) +"
                       r"(\d+\.\d{3}) *$", out, re.M)
    assert heads and all(int(h[3]) == pid for h in heads), out
    assert [h[0] for h in heads][:1] == ["HANDSHAKE"], out
    assert "WRITE/SEND" in [h[0] for h in heads] and "READ/RECV" in [h[0] for h in heads], out
    blocks = re.findall(r"^----- DATA -----\n(.*?)\n----- END DATA(.*?)-----$", out, re.M | re.S)
    assert blocks[0][0] == "GET /bpfscope-sslsniff HTTP/1.0\r\n\r\n", out
    assert any(b.startswith("HTTP/1.0 200 ok\r\n") for b, _ in blocks), out
    sent = next(h for h in heads if h[0] == "WRITE/SEND")
    assert int(sent[6]) == len("GET /bpfscope-sslsniff HTTP/1.0\r\n\r\n"), out


def test_sslsniff_hexdump_and_truncation(e2e, tls_server):
    out, _ = sniffed(e2e, tls_server, "--hexdump", "--max-buffer-size", "20")
    blocks = re.findall(r"^----- DATA -----\n(.*?)\n----- END DATA(.*?)-----$", out, re.M | re.S)
    assert blocks and blocks[0][0] == b"GET /bpfscope-sslsniff HTTP/1.0"[:20].hex()[:32] + \
        "\n" + b"GET /bpfscope-sslsniff HTTP/1.0"[:20].hex()[32:], out
    assert blocks[0][1] == " (TRUNCATED, 15 bytes lost) ", out


def test_sslsniff_without_a_library_is_one_error(e2e):
    r = e2e.run_cli("sslsniff", "-o", "-g", "-n", timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    assert r.stderr.startswith("ERROR: sslsniff: none of the TLS libraries"), r


# ------------------------------------------------------------------ tcptop

# one loopback connection of the child's own: once told, 640 KiB from the
# client to the server and 3000 bytes back; prints the two ports
TCP_TRAFFIC = """
import socket, sys
family, host = (socket.AF_INET6, "::1") if sys.argv[1] == "6" else (socket.AF_INET, "127.0.0.1")
srv = socket.socket(family); srv.bind((host, 0)); srv.listen()
cli = socket.create_connection((host, srv.getsockname()[1])); conn, _ = srv.accept()
print(srv.getsockname()[1], cli.getsockname()[1], flush=True)
sys.stdin.read(1)
got = 0
for i in range(10):
    cli.sendall(b"x" * 65536)
    while got < (i + 1) * 65536:
        got += len(conn.recv(65536))
conn.sendall(b"y" * 3000)
n = 0
while n < 3000:
    n += len(cli.recv(4096))
"""


def tcptop_rows(e2e, family: str, *args) -> tuple[dict, int, int, int]:
    """tcptop -C -S -p on a child's TCP_TRAFFIC: its rows summed over the
    reports, {(laddr, raddr): [rx_kb, tx_kb]}, the child's pid and ports."""
    ports = []
    out, pid = child_traced(e2e, TCP_TRAFFIC, [family], "tcptop", "-C", "-S", *args,
                            ready=lambda c: ports.extend(map(int, c.stdout.readline().split())))
    sport, cport = ports
    assert out.startswith("Tracing... Output every 1 secs. Hit Ctrl-C to end\n"), out
    rows: dict = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 6 and f[0].isdigit():
            assert int(f[0]) == pid, out
            r = rows.setdefault((f[2], f[3]), [0, 0])
            r[0] += int(f[4])
            r[1] += int(f[5])
    return rows, out, sport, cport


def test_tcptop_loopback_bytes_each_way(e2e, no_leaks):
    rows, out, sport, cport = tcptop_rows(e2e, "4")
    assert "PID    COMM         LADDR                 RADDR                  RX_KB  TX_KB" in out
    client, server = (f"127.0.0.1:{cport}", f"127.0.0.1:{sport}"), \
        (f"127.0.0.1:{sport}", f"127.0.0.1:{cport}")
    assert set(rows) == {client, server}, out
    assert rows[client] == [2, 640] and rows[server] == [640, 2], out   # 3000 bytes: 2 KB


def test_tcptop_ipv6_only(e2e):
    if not socket_has_ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    rows, out, sport, cport = tcptop_rows(e2e, "6", "-6")
    assert "LADDR6" in out and rows[(f"::1:{cport}", f"::1:{sport}")] == [2, 640], out
    rows, out, _, _ = tcptop_rows(e2e, "6", "-4")
    assert not rows, out


def socket_has_ipv6_loopback() -> bool:
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ filetop

# once told: 300000 bytes written to a fresh file and read back in 64 KiB
# reads; 100 bytes through a FIFO (argv[2]) written and read back
FILE_IO = """
import os, sys
path, fifo = sys.argv[1:3]
sys.stdin.read(1)
with open(path, "wb") as f:
    f.write(b"a" * 300000)
with open(path, "rb", buffering=0) as f:
    while f.read(65536):
        pass
fd = os.open(fifo, os.O_RDWR)
os.write(fd, b"f" * 100)
os.read(fd, 100)
os.close(fd)
"""


def filetop_rows(e2e, tmp_path, *args) -> tuple[dict, str, str]:
    """filetop -C -p on a child's FILE_IO: {file: (T, reads, writes, R_Kb,
    W_Kb)} summed over the reports of the child's thread, the output and
    the file's name."""
    name = f"filetop-{os.getpid()}.dat"
    fifo = tmp_path / "filetop.fifo"
    os.mkfifo(fifo)
    out, pid = child_traced(e2e, FILE_IO, [str(tmp_path / name), str(fifo)], "filetop", "-C",
                            *args)
    assert out.startswith("Tracing... Output every 1 secs. Hit Ctrl-C to end\n"), out
    assert out.endswith("Detaching...\n"), out
    rows: dict = {}
    for line in out.splitlines():
        f = line.split(None, 7)
        if len(f) == 8 and f[0] == str(pid):
            old = rows.get(f[7], (f[6], 0, 0, 0, 0))
            rows[f[7]] = (f[6], *(a + int(b) for a, b in zip(old[1:], f[2:6])))
    return rows, out, name


def test_filetop_reads_and_writes_of_a_fresh_file(e2e, tmp_path, no_leaks):
    rows, out, name = filetop_rows(e2e, tmp_path)
    assert "TID    COMM             READS  WRITES R_Kb    W_Kb    T FILE\n" in out
    kind, reads, writes, rkb, wkb = rows[name]
    assert kind == "R" and writes >= 1 and wkb == 300000 // 1024, out
    assert reads >= 5 and rkb == 300000 // 1024, out      # 5 reads of data, then EOF
    assert "filetop.fifo" not in rows, out                # regular files only


def test_filetop_all_files_shows_the_fifo(e2e, tmp_path):
    rows, out, name = filetop_rows(e2e, tmp_path, "-a", "-s", "writes")
    assert rows["filetop.fifo"] == ("O", 1, 1, 0, 0), out
    assert rows[name][0] == "R", out


# ------------------------------------------------------------------ cachestat

# once told: a fresh 1 MiB file written and synced, its own pages dropped
# from the cache (only this file's), then read twice: 256 misses, then
# 256 hits
CACHE_IO = """
import os, sys
path = sys.argv[1]
sys.stdin.read(1)
with open(path, "wb") as f:
    f.write(b"c" * (256 * 4096))
    f.flush()
    os.fsync(f.fileno())
    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
for _ in range(2):
    with open(path, "rb", buffering=0) as f:
        while f.read(65536):
            pass
os.unlink(path)
"""


def test_cachestat_misses_then_hits_of_a_fresh_file(e2e, no_leaks):
    if os.sysconf("SC_PAGE_SIZE") != 4096:
        pytest.skip("the test counts 4 KiB pages")
    target = "/var/tmp" if os.path.isdir("/var/tmp") else "/tmp"
    path = os.path.join(target, f"cachestat-{os.getpid()}.dat")
    try:
        out, _ = child_traced(e2e, CACHE_IO, [path], "cachestat", "-T")
    finally:
        if os.path.exists(path):
            os.unlink(path)
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB",
                                "CACHED_MB"], out
    rows = [l.split() for l in lines[1:]]
    assert rows and all(re.fullmatch(r"\d\d:\d\d:\d\d", r[0]) and r[4].endswith("%")
                        for r in rows), out
    hits, misses, dirties = (sum(int(r[i]) for r in rows) for i in (1, 2, 3))
    assert 256 <= misses < 256 + 64, out       # the first read, and little else
    assert hits >= 256 and dirties >= 1, out   # the second read; the write dirtied folios


# ------------------------------------------------------- ext4slower, xfsslower

# once told: a file created, 5000 bytes written and synced, reopened and
# 100 bytes read at offset 4096
FS_OPS = """
import os, sys
path = sys.argv[1]
sys.stdin.read(1)
fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
os.write(fd, b"w" * 5000)
os.fsync(fd)
os.close(fd)
fd = os.open(path, os.O_RDONLY)
os.pread(fd, 100, 4096)
os.close(fd)
os.unlink(path)
"""


def fs_rows(out: str, name: str) -> list[list[str]]:
    return [l.split() for l in out.splitlines() if l.endswith(" " + name)]


def check_fs_ops(e2e, tool: str, directory: str, fs: str):
    name = f"{tool}-{os.getpid()}.dat"
    out, pid = child_traced(e2e, FS_OPS, [os.path.join(directory, name)], tool, "0")
    assert out.startswith(f"Tracing {fs} operations\nTIME     COMM           PID     T BYTES   "
                          "OFF_KB   LAT(ms) FILENAME\n"), out
    rows = fs_rows(out, name)
    assert all(r[2] == str(pid) and re.fullmatch(r"\d+\.\d\d", r[6]) for r in rows), out
    assert [(r[3], r[4], r[5]) for r in rows] == [("O", "0", "0"), ("W", "5000", "0"),
                                                   ("S", "0", "0"), ("O", "0", "0"),
                                                   ("R", "100", "4")], out
    out, _ = child_traced(e2e, FS_OPS, [os.path.join(directory, name)], tool, "-j", "0")
    assert out.startswith("ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE\n"), out
    csv = [l.split(",") for l in out.splitlines()[1:] if l.endswith("," + name)]
    assert [(c[3], c[4], c[5]) for c in csv][-1] == ("R", "100", "4096"), out


def test_ext4slower_sees_each_operation(e2e, tmp_path, no_leaks):
    target = "/var/tmp" if os.path.isdir("/var/tmp") else str(tmp_path)
    if _fs_type(target) != "ext4":
        pytest.skip(f"{target} is not on ext4 here")
    check_fs_ops(e2e, "ext4slower", target, "ext4")


def _fs_type(path: str) -> str:
    """The type of the filesystem mounted at or above ``path``."""
    best, kind = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            if (path + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
                best, kind = mnt, fstype
    return kind


@pytest.fixture
def xfs_dir(tmp_path):
    """A 300 MB XFS image of the test's own, loop-mounted on a tmp dir
    (unmounted and its loop device freed at the end)."""
    import shutil
    with open("/proc/filesystems") as f:
        if not any(l.split()[-1:] == ["xfs"] for l in f):
            pytest.skip("this kernel has no XFS")
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("needs mkfs.xfs (xfsprogs) to make an XFS image")
    image, mnt = tmp_path / "xfs.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(300 << 20)
    subprocess.run(["mkfs.xfs", "-q", str(image)], check=True, capture_output=True)
    mnt.mkdir()
    r = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.skip(f"cannot loop-mount an XFS image here: {r.stderr.strip()}")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_xfsslower_sees_each_operation(e2e, xfs_dir, no_leaks):
    check_fs_ops(e2e, "xfsslower", xfs_dir, "xfs")


def test_xfsslower_leaves_other_filesystems_out(e2e, tmp_path):
    with open("/proc/filesystems") as f:
        has_xfs = any(l.split()[-1:] == ["xfs"] for l in f)
    name = f"notxfs-{os.getpid()}.dat"
    if not has_xfs:
        r = e2e.run_cli("xfsslower", timeout=60)
        assert r.returncode == 1 and r.stderr.startswith(
            "ERROR: xfsslower: this kernel has no xfs filesystem"), r
        return
    if _fs_type(str(tmp_path)) == "xfs":
        pytest.skip("the tmp dir is on XFS")
    out, _ = child_traced(e2e, FS_OPS, [str(tmp_path / name)], "xfsslower", "0")
    assert not fs_rows(out, name), out


# ------------------------------------------------------------------ fileslower

# once told: a read of a FIFO that a thread writes 10 bytes to a second
# later; the read's time as the child saw it (ms) goes to argv[2]
FIFO_WAIT = """
import os, sys, threading, time
fifo, seen = sys.argv[1:3]
sys.stdin.read(1)
def later():
    time.sleep(1)
    w = os.open(fifo, os.O_WRONLY)
    os.write(w, b"z" * 10)
    os.close(w)
r = os.open(fifo, os.O_RDWR)
threading.Thread(target=later).start()
t0 = time.monotonic()
os.read(r, 10)
t1 = time.monotonic()
with open(seen, "w") as f:
    f.write(str((t1 - t0) * 1000))
"""


def test_fileslower_shows_the_slow_fifo_read(e2e, tmp_path, no_leaks):
    fifo = tmp_path / "slow.fifo"
    os.mkfifo(fifo)
    seen = tmp_path / "seen"
    out, pid = child_traced(e2e, FIFO_WAIT, [str(fifo), str(seen)], "fileslower", "-a", "100")
    assert out.startswith("Tracing sync read/writes slower than 100 ms\n"
                          "TIME(s)  COMM           TID    D BYTES   LAT(ms) FILENAME\n"), out
    reads = [r for r in fs_rows(out, "slow.fifo") if r[3] == "R"]
    assert len(reads) == 1, out
    t, comm, tid, d, size, lat, _ = reads[0]
    assert int(tid) == pid and size == "10", out
    # the system call lies within the child's own measure of os.read()
    assert 100 <= float(lat) <= float(seen.read_text()) + 0.01, (out, seen.read_text())
    out, _ = child_traced(e2e, FIFO_WAIT, [str(fifo), str(seen)], "fileslower", "100")
    assert not fs_rows(out, "slow.fifo"), out        # a FIFO is no regular file
