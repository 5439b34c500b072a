"""The ways out of a run other than exit() and ^C: a reader that goes away,
closed standard streams, signals, output files that cannot be written,
and the working directory. Each ends without a Python traceback, with
bpftrace's exit code, and leaves nothing in the kernel."""

from __future__ import annotations

import signal
import subprocess
import sys

CLI = [sys.executable, "-m", "bpfscope.cli"]  # as conftest's run_cli

TICK = ('tracepoint:syscalls:sys_enter_getppid { @calls = count(); } '
        'interval:ms:5 { printf("tick %d\\n", 1); }')


def _closed(redirect: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run the CLI with a standard stream closed by the shell (``>&-``...)."""
    return subprocess.run(["sh", "-c", f'exec "$@" {redirect}', "sh", *CLI, *args],
                          capture_output=True, timeout=timeout)


def test_reader_goes_away(no_leaks):
    """``bpfscope ... | head -1``: the first write after the reader left
    gets EPIPE; the run ends quietly, killed by SIGPIPE as bpftrace is."""
    p = subprocess.Popen([*CLI, "-e", TICK], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"tick 1\n"
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(20) == -signal.SIGPIPE, err
    assert "Traceback" not in err and "Exception" not in err, err
    assert err == "Attached 2 probes\n"


def test_head_in_a_shell_pipeline(no_leaks):
    r = subprocess.run(["sh", "-c", '"$@" | head -1; echo "status ${?}"', "sh", *CLI,
                        "-e", TICK], capture_output=True, text=True, timeout=20)
    assert r.stdout == "tick 1\nstatus 0\n"
    assert r.stderr == "Attached 2 probes\n"


def test_sigpipe_signal_ends_quietly(e2e, no_leaks):
    t = e2e.Trace("-e", TICK)
    assert t.proc.stdout.readline() == b"tick 1\n"
    t.proc.send_signal(signal.SIGPIPE)
    out, err = t.finish()
    assert t.returncode == -signal.SIGPIPE, err
    assert err == "Attached 2 probes\n"


def test_stdout_closed_before_start(no_leaks, tmp_path):
    mark = tmp_path / "ran"
    r = _closed(">&-", "--unsafe", "-e",
                f'BEGIN {{ printf("lost\\n"); system("touch {mark}"); @a = 1; exit(); }}')
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"Attached 1 probe\n"
    assert mark.exists()
