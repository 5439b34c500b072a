"""Privileges: an unprivileged user is told once what bpfscope needs
(before anything is compiled or loaded), a dry run still works for them;
a script cannot grant itself unsafe actions, only --unsafe does."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

from bpfscope.privileges import CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, MESSAGE, can_trace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_capability_masks():
    assert can_trace(1 << CAP_SYS_ADMIN)
    assert can_trace(1 << CAP_BPF | 1 << CAP_PERFMON)
    assert not can_trace(1 << CAP_BPF)
    assert not can_trace(1 << CAP_PERFMON)
    assert not can_trace(0)
    assert can_trace(None)


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    nobody = pwd.getpwnam("nobody")
    # the suite's own interpreter may live where nobody cannot run it
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if python is None or not os.access(ROOT, os.R_OK | os.X_OK):
        pytest.skip("no system python3 for nobody")

    def drop():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    return subprocess.run([python, "-m", "bpfscope.cli", *args], capture_output=True,
                          text=True, timeout=30, preexec_fn=drop, cwd="/",
                          env={**os.environ, "PYTHONPATH": ROOT})


@pytest.mark.parametrize("prog", [
    "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }",
    "BEGIN { @x[1] = 1; exit(); }",
])
def test_unprivileged_user_gets_the_reason(prog):
    r = as_nobody("-e", prog)
    assert r.returncode == 1
    assert r.stderr == f"ERROR: {MESSAGE}\n"
    assert r.stdout == ""


def test_unprivileged_dry_run_works():
    r = as_nobody("--dry-run", "-d", "ast", "-e", "BEGIN { printf(\"hi\\n\"); exit(); }")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("AST:\n")


def test_unprivileged_syntax_error_is_told_as_such():
    r = as_nobody("-e", "BEGIN { @x = ; }")
    assert r.returncode == 1
    assert r.stderr.startswith("stdin:1:"), r.stderr
    assert "ERROR" in r.stderr and MESSAGE not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("config, call", [
    ("unsafe = 1", 'system("touch {path}")'),
    ("BPFTRACE_UNSAFE = true", 'system("touch {path}")'),
    ('unsafe = "yes"', 'system("touch {path}")'),
    ("unsafe = 1", "signal(0)"),
])
def test_config_block_cannot_grant_unsafe(e2e, tmp_path, config, call):
    path = tmp_path / "made"
    prog = f"config = {{ {config} }} BEGIN {{ {call.format(path=path)}; exit(); }}"
    r = e2e.run_cli("-e", prog)
    assert r.returncode == 1
    assert ": ERROR: Unrecognized config variable: " in r.stderr
    assert "Traceback" not in r.stderr
    assert not path.exists()


@pytest.mark.usefixtures("kernel")
def test_unsafe_flag_allows_system(e2e, tmp_path):
    path = tmp_path / "made"
    r = e2e.run_cli("--unsafe", "-e", f'BEGIN {{ system("touch {path}"); exit(); }}')
    assert r.returncode == 0, r.stderr
    assert path.exists()
    r = e2e.run_cli("-e", f'BEGIN {{ system("touch {path}x"); exit(); }}')
    assert r.returncode == 1 and "use --unsafe to allow it" in r.stderr
    assert not (tmp_path / "madex").exists()
