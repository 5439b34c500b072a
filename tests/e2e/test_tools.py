"""The tools shipped with bpfscope run by name, and a trace under a steady
stream of events still stops when asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

TOOLS = sorted(p.stem for p in (Path(__file__).parents[2] / "bpfscope" / "tools").glob("*.bt"))



def _kernel_has_symbol(name: str) -> bool:
    with open("/proc/kallsyms") as f:
        return any(line.split()[2] == name for line in f)


# Tools whose hook a kernel may lack: whether this one has it, and what the
# tool says when it does not.
def _kprobes() -> bool:
    return os.path.exists("/sys/kernel/tracing/kprobe_events")


HOOKS = {
    "mdflush": (_kprobes, "kprobe:md_flush_request cannot be attached: kprobes are not built into this kernel"),
    "vfscount": (_kprobes, "kprobe:vfs_* cannot be attached: kprobes are not built into this kernel"),
    "vfsstat": (_kprobes, "kprobe:vfs_read* cannot be attached: kprobes are not built into this kernel"),
    "swapin": (_kprobes, "kprobe:swap_read_folio cannot be attached: kprobes are not built into this kernel"),
    "xfsdist": (_kprobes, "kprobe:xfs_file_read_iter cannot be attached: kprobes are not built into this kernel"),
    "dcsnoop": (_kprobes, "kprobe:lookup_fast cannot be attached: kprobes are not built into this kernel"),
    "loads": (lambda: _kernel_has_symbol("avenrun"), "ERROR: Failed to resolve kernel symbol: avenrun"),
}


def test_the_tool_list_is_what_the_readme_promises():
    assert {"execsnoop", "opensnoop", "biolatency", "runqlat", "syscount", "killsnoop", "tcpconnect",
            "offcputime", "offwaketime"} <= set(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_compiles_by_name(e2e, tool):
    if tool in HOOKS and not HOOKS[tool][0]():
        pytest.skip(f"{tool}'s hook is missing here")
    r = e2e.run_cli("--dry-run", tool)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("tool", sorted(HOOKS))
def test_a_tool_without_its_hook_says_so(e2e, tool):
    has_hook, message = HOOKS[tool]
    if has_hook():
        pytest.skip(f"this kernel has {tool}'s hook")
    r = e2e.run_cli(tool)
    assert r.returncode != 0 and r.stdout == "", r
    errors = [l for l in r.stderr.splitlines() if "ERROR" in l]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in r.stderr, r.stderr


def test_opensnoop_shows_a_file_the_child_opens(e2e, helper):
    target = Path(f"/tmp/bs-opensnoop-{os.getpid()}")
    r = e2e.run_cli("opensnoop", "-c", f"{helper} open {target} 2")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if str(target) in l]
    assert len(lines) == 2 and all(" bse2e " in l for l in lines), r.stdout


def test_execsnoop_shows_arguments(e2e):
    r = e2e.run_cli("execsnoop", "-c", "/bin/sh -c '/bin/true one two three'")
    assert r.returncode == 0, r.stderr
    assert any(l.endswith("/bin/true one two three") for l in r.stdout.splitlines()), r.stdout


def test_sigint_stops_a_trace_under_a_steady_event_stream(e2e, helper):
    """Events arrive faster than they are printed: the reader must still
    return to the loop that notices the signal."""
    load = subprocess.Popen(["/bin/sh", "-c", f"while :; do {helper} getpid 20000; done"],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        t = e2e.Trace("-e", 'tracepoint:syscalls:sys_enter_getpid { printf("%d %s\\n", pid, comm); }')
        time.sleep(1.0)
        t.proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        t.finish(timeout=20)
        assert time.monotonic() - start < 10
        assert t.proc.returncode == 0
    finally:
        os.killpg(load.pid, signal.SIGKILL)
        load.wait()


def test_tcpconnect_shows_a_local_connection(e2e):
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    try:
        code = f"import socket; socket.create_connection(('127.0.0.1', {port})).close()"
        r = e2e.run_cli("tcpconnect", "-c", f"{sys.executable} -c \"{code}\"")
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr
    lines = [l.split() for l in r.stdout.splitlines() if l.split()[-1:] == [str(port)]]
    assert lines and lines[0][3] == "127.0.0.1" and lines[0][5] == "127.0.0.1", r.stdout


def test_ntop_of_integers(e2e):
    r = e2e.run_prog('BEGIN { printf("%s %s\\n", ntop(0x0100007f), ntop(2, 0x0101a8c0)); exit(); }')
    assert r.stdout == "127.0.0.1 192.168.1.1\n\n\n"
