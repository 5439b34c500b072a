"""-l for every probe type bpftrace 0.26 lists, through the real CLI:
fixed lists (software, hardware, interval, profile), BTF (iter,
rawtracepoint, struct/union/enum types and -lv definitions), files and
pids (uprobes), the probes of a program (-e or a file), wildcards on the
probe type, patterns without ':' and comma-separated lists."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def _list(e2e, *args):
    r = e2e.run_cli(*args, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return r.stdout


HARDWARE = ("hardware:backend-stalls:\nhardware:branch-instructions:\nhardware:branch-misses:\n"
            "hardware:branches:\nhardware:bus-cycles:\nhardware:cache-misses:\n"
            "hardware:cache-references:\nhardware:cpu-cycles:\nhardware:cycles:\n"
            "hardware:frontend-stalls:\nhardware:instructions:\nhardware:ref-cycles:\n")


def test_hardware_and_software(e2e):
    assert _list(e2e, "-l", "hardware:*") == HARDWARE
    assert _list(e2e, "-l", "software:c*") == (
        "software:context-switches:\nsoftware:cpu-clock:\nsoftware:cpu-migrations:\n"
        "software:cpu:\nsoftware:cs:\n")


def test_interval_and_profile(e2e):
    assert _list(e2e, "-l", "interval:*") == (
        "interval:hz:\ninterval:ms:\ninterval:ns:\ninterval:s:\ninterval:us:\n")
    assert _list(e2e, "-l", "profile:hz") == "profile:hz:\n"


def test_wildcards_on_the_type(e2e):
    assert _list(e2e, "-l", "h*:*") == HARDWARE
    out = _list(e2e, "-l", "*:sched_switch").splitlines()
    assert "tracepoint:sched:sched_switch" in out
    assert not any(line.startswith(("hardware:", "software:", "interval:")) for line in out)


def test_pattern_without_a_colon_is_any_type(e2e):
    out = _list(e2e, "-l", "sched_switch").splitlines()
    assert "tracepoint:sched:sched_switch" in out
    assert _list(e2e, "-l", "sched_process_exe*").splitlines()[0] == (
        "tracepoint:sched:sched_process_exec")


def test_comma_separated_patterns(e2e):
    assert _list(e2e, "-l", "t:sched:sched_switch, software:cs") == (
        "tracepoint:sched:sched_switch\nsoftware:cs:\n")


def test_iter(e2e):
    out = _list(e2e, "-l", "iter:*").splitlines()
    if not out:
        pytest.skip("this kernel's BTF has no BPF iterators")
    assert "iter:task" in out and out == sorted(out)
    assert _list(e2e, "-lv", "iter:task_file") == (
        "iter:task_file\n    struct task_struct * task\n    u32 fd\n    struct file * file\n")


def test_rawtracepoint(e2e):
    assert "rawtracepoint:vmlinux:sched_switch\n" in _list(e2e, "-l", "rawtracepoint:sched_sw*")


def test_types(e2e):
    assert _list(e2e, "-l", "struct task_struct") == "struct task_struct\n"
    names = _list(e2e, "-l", "struct task_*").splitlines()
    assert "struct task_struct" in names and names == sorted(names)
    assert _list(e2e, "-lv", "struct path") == (
        "struct path {\n\tstruct vfsmount *mnt;\n\tstruct dentry *dentry;\n};\n\n")
    assert _list(e2e, "-lv", "enum pid_type").startswith(
        "enum pid_type {\n\tPIDTYPE_PID = 0,\n\tPIDTYPE_TGID = 1,\n")
    ts = _list(e2e, "-lv", "struct task_struct")
    assert ts.startswith("struct task_struct {\n\tstruct thread_info thread_info;\n")
    assert ts.endswith("};\n\n") and "\tpid_t pid;\n" in ts


def test_uprobes_of_a_file(e2e, helper):
    assert _list(e2e, "-l", f"uprobe:{helper}:mai*") == f"uprobe:{helper}:main\n"


def test_uprobes_of_a_pid(e2e):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        out = _list(e2e, "-p", str(proc.pid), "-l", "uprobe:*:clock_nanosleep")
        lines = out.splitlines()
        assert lines and all(line.startswith("uprobe:/") and line.endswith(":clock_nanosleep")
                             for line in lines)
        assert any("libc" in line for line in lines)
    finally:
        proc.kill()
        proc.wait()


def test_probes_of_a_program(e2e, tmp_path):
    prog = "tracepoint:sched:sched_process_e* { } BEGIN { } i:s:1 { exit(); }"
    want = ("tracepoint:sched:sched_process_exec\ntracepoint:sched:sched_process_exit\n"
            "begin\ninterval:s:\n")
    assert _list(e2e, "-l", "-e", prog) == want
    script = tmp_path / "p.bt"
    script.write_text(prog + "\n")
    assert _list(e2e, "-l", str(script)) == want


def test_a_missing_file_is_a_pattern_and_fails_when_nothing_matches(e2e):
    r = e2e.run_cli("-l", "nosuch.bt")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("WARNING: It appears that 'nosuch.bt' is a filename but the file does "
                        "not exist. Treating 'nosuch.bt' as a search pattern.\n")


def test_list_everything(e2e):
    kinds = {line.split(":", 1)[0] for line in _list(e2e, "-l").splitlines()}
    assert {"tracepoint", "software", "hardware", "interval", "profile"} <= kinds
    assert not kinds & {"uprobe", "usdt", "begin", "BEGIN", "kretprobe", "fexit"}
