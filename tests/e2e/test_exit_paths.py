"""The ways out of a run other than exit() and a ^C while tracing: a reader
that goes away, closed or full standard streams, signals (^C while
compiling, SIGHUP, SIGUSR1), output files that cannot be opened or
written, a program without probes, and the working directory; and the
bytes that reach the output (raw, as bpftrace writes them). Each ends
without a Python traceback, with bpftrace's exit code, and leaves nothing
in the kernel."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import pytest

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


# ---------------------------------------------------------------- output files

UNWRITTEN = 'tracepoint:syscalls:sys_enter_getppid { @n = count(); } BEGIN { exit(); }'


def _refused(r, path: str, why: str):
    """bpftrace's -o error, exit 1, and nothing loaded or attached."""
    assert r.returncode == 1, r.stderr
    assert r.stderr == f'ERROR: Failed to open output file: "{path}": {why}\n'
    assert r.stdout == ""



# ---------------------------------------------------------------- output files

UNWRITTEN = 'tracepoint:syscalls:sys_enter_getppid { @n = count(); } BEGIN { exit(); }'


def _refused(e2e, r, mark: int, path: str, why: str):
    """bpftrace's -o error and exit code, and not one BPF object made:
    the file is checked before anything is loaded."""
    assert r.returncode == 1, r.stderr
    assert r.stderr == f'ERROR: Failed to open output file: "{path}": {why}\n'
    assert r.stdout == ""
    assert not any(e2e.created_since(mark).values()), e2e.created_since(mark)


def _logged_sh(e2e, tmp_path, shell: str, *args: str, cwd=None, prefix=()):
    """``sh -c SHELL`` (run by ``prefix``) where SHELL ends by exec'ing the
    CLI with ``args`` ("$@"); returns the run and the ids of every BPF
    object the tracer made."""
    log = tmp_path / f"ids-{len(list(tmp_path.glob('ids-*')))}"
    r = subprocess.run([*prefix, "sh", "-c", shell, "sh", *e2e.LOGGED_CLI, *args],
                       capture_output=True, timeout=30, cwd=cwd,
                       env={**os.environ, e2e.owned_ids.ENV: str(log)})
    return r, e2e.owned_ids.read_log(str(log))


def _ro_run(e2e, tmp_path, *args: str, cd: bool = False):
    """The CLI in a mount namespace of its own where ``tmp_path/ro`` is a
    read-only tmpfs (root ignores file modes, not a read-only mount), and
    its working directory when ``cd``."""
    ro = tmp_path / "ro"
    ro.mkdir(exist_ok=True)
    r, ids = _logged_sh(e2e, tmp_path, f'mount -t tmpfs -o ro none "{ro}" && '
                        + (f'cd "{ro}" && ' if cd else "") + 'exec "$@"', *args,
                        prefix=("unshare", "-m"))
    if b"mount" in r.stderr and not ids["map"] and r.returncode != 1:
        pytest.skip(f"cannot mount a read-only tmpfs here: {r.stderr}")
    return r, ids


@pytest.mark.parametrize("option", ["-o", "--flamegraph", "--folded", "--speedscope",
                                    "--pprof"])
def test_output_file_in_missing_directory(e2e, no_leaks, tmp_path, option):
    path = str(tmp_path / "missing" / "out")
    mark = e2e.bpf_ids()
    r = e2e.run_cli(option, path, "-e", UNWRITTEN)
    _refused(e2e, r, mark, path, "No such file or directory")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("option", ["-o", "--flamegraph", "--pprof"])
def test_output_file_is_a_directory(e2e, no_leaks, tmp_path, option):
    mark = e2e.bpf_ids()
    r = e2e.run_cli(option, str(tmp_path), "-e", UNWRITTEN)
    _refused(e2e, r, mark, str(tmp_path), "Is a directory")


def test_output_file_under_a_file(e2e, no_leaks, tmp_path):
    (tmp_path / "f").write_text("keep")
    path = str(tmp_path / "f" / "out.svg")
    mark = e2e.bpf_ids()
    r = e2e.run_cli("-q", "--flamegraph", path, "-e", UNWRITTEN)
    _refused(e2e, r, mark, path, "Not a directory")
    assert (tmp_path / "f").read_text() == "keep"


@pytest.mark.parametrize("option", ["-o", "--flamegraph", "--speedscope"])
def test_output_file_on_read_only_mount(e2e, kernel, tmp_path, option):
    path = f"{tmp_path}/ro/out"
    r, ids = _ro_run(e2e, tmp_path, option, path, "-e", UNWRITTEN)
    assert r.returncode == 1, r.stderr
    assert r.stderr.decode() == (f'ERROR: Failed to open output file: "{path}": '
                                 'Read-only file system\n')
    assert not any(ids.values()), ids


def test_output_file_written_as_bpftrace_o(e2e, no_leaks, tmp_path):
    """The check does not get in the way: an existing file is truncated,
    a new one created, and the trace's output goes there."""
    out = tmp_path / "out.txt"
    out.write_text("old contents that are longer than the new ones\n" * 10)
    r = e2e.run_cli("-o", str(out), "-e", 'BEGIN { printf("hi\\n"); @x = 3; exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stderr == "Attached 1 probe\n"
    assert out.read_text() == "hi\n\n\n@x: 3\n"


# ---------------------------------------------------------------- signals at start-up

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_signal_while_compiling(e2e, no_leaks, tmp_path, sig):
    """^C (or a hang-up) before anything is loaded (here: an import still
    being read): bpftrace dies by the signal's default action there; so
    does bpfscope, without a KeyboardInterrupt traceback."""
    fifo = tmp_path / "slow.bt"
    os.mkfifo(fifo)
    script = tmp_path / "main.bt"
    script.write_text(f'import "{fifo}";\nBEGIN {{ printf("ran\\n"); exit(); }}\n')
    mark = e2e.bpf_ids()
    t = e2e.Trace(str(script), wait_attached=False)
    # opening the writer end waits for the tracer to open its end: from
    # then on it waits in read(), in the middle of compiling
    with open(fifo, "w"):
        t.proc.send_signal(sig)
        t.proc.wait(20)
    out, err = t.finish()
    assert t.returncode == -sig, err
    assert (out, err) == ("", "")
    assert not any(e2e.created_since(mark).values())


# ---------------------------------------------------------------- SIGHUP

HUP = ('BEGIN { printf("begin\\n"); } tracepoint:syscalls:sys_enter_getppid { @n = count(); } '
       'interval:ms:10 { @i = count(); } END { printf("end\\n"); }')


def test_sighup_ends_as_bpftrace(e2e, no_leaks):
    """bpftrace leaves SIGHUP at its default action: it dies at once, by
    SIGHUP, without END or maps. bpfscope too, after closing everything."""
    t = e2e.Trace("-e", HUP)
    assert t.proc.stdout.readline() == b"begin\n"
    assert len(t.held()["prog"]) == 4
    t.proc.send_signal(signal.SIGHUP)
    out, err = t.finish()
    assert t.returncode == -signal.SIGHUP, err
    assert err == "Attached 4 probes\n"
    assert out == ""


def test_sighup_ignored_under_nohup(no_leaks):
    """Started with SIGHUP ignored (nohup), the trace keeps running."""
    p = subprocess.Popen(["sh", "-c", 'trap "" HUP; exec "$@"', "sh", *CLI, "-e", HUP],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"begin\n"
        p.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.startswith(b"end\n\n\n@i: ")
    assert err == b"Attached 4 probes\n"


# ---------------------------------------------------------------- raw bytes

def test_printf_escapes_above_0x7f_are_raw_bytes(e2e, no_leaks, tmp_path):
    """As bpftrace: "\\xff" and "\\376" write bytes ff and fe, %c of 200
    the byte c8, a string literal's bytes reach the kernel and come back as
    they were (not UTF-8 encoded: c3 bf ...), to stdout and to -o."""
    prog = ('BEGIN { printf("\\xff\\376|%s|%c|\\303\\251\\n", "\\x80z", 200); '
            '@m["\\xfe"] = 1; exit(); }')
    want = b"\xff\xfe|\x80z|\xc8|\xc3\xa9\n\n\n@m[\xfe]: 1\n"
    r = subprocess.run([*e2e.LOGGED_CLI, "-q", "-e", prog], capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == want
    out = tmp_path / "out"
    r = e2e.run_cli("-q", "-o", str(out), "-e", prog)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == want


def test_raw_bytes_in_the_kernel(e2e, no_leaks):
    """A "\\xff" is one byte in the program too: strlen counts it once,
    == and strcontains see the same byte written as "\\377", and a
    positional parameter's bytes that are no UTF-8 pass through."""
    r = subprocess.run([*e2e.LOGGED_CLI, "-q", "-e",
                        'BEGIN { $s = "a\\xffb"; printf("%d %d %d|%s|\\n", strlen($s), '
                        '$s == "a\\377b", strcontains($s, "\\377"), str($1)); exit(); }',
                        b"x\xfey"], capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"3 1 1|x\xfey|\n\n\n"


def test_str_of_memory_that_is_no_utf8(e2e, no_leaks, tmp_path):
    """str() of user memory holding bytes that are no UTF-8 prints them
    raw, as bpftrace does (no U+FFFD replacement), in printf and map keys."""
    name = bytes(tmp_path) + b"/\xff\xfe-\x80"
    t = e2e.Trace("-e", 'tracepoint:syscalls:sys_enter_openat /pid == $1/ '
                  '{ printf("<%s>\\n", str(args.filename)); @[str(args.filename)] = count(); }',
                  str(os.getpid()))
    for _ in range(2):
        try:
            os.open(name, os.O_RDONLY)
        except FileNotFoundError:
            pass
    time.sleep(0.3)
    t.proc.send_signal(signal.SIGINT)
    out, err = t.proc.communicate(timeout=20)
    assert t.proc.returncode == 0, err
    assert out.count(b"<" + name + b">\n") == 2, out
    assert b"@[" + name + b"]: 2\n" in out
    assert b"\xef\xbf\xbd" not in out


# ---------------------------------------------------------------- closed streams, working directory

RUNS = ('BEGIN { printf("begin\\n"); } interval:ms:20 { @n = 3; exit(); } '
        'END { printf("end\\n"); }')
RAN = b"begin\nend\n\n\n@n: 3\n"


STDERR_GONE = pytest.mark.parametrize("redirect", ["2>&-", "2>/dev/full"],
                                      ids=["closed", "full"])


@STDERR_GONE
def test_stderr_closed_the_trace_runs(e2e, kernel, tmp_path, redirect):
    """``2>&-`` or a stderr every write to fails: bpftrace runs the trace
    (its messages go nowhere); so does bpfscope, with the same output and
    exit code."""
    r, ids = _logged_sh(e2e, tmp_path, f'exec "$@" {redirect}', "-e", RUNS)
    assert r.returncode == 0
    assert r.stdout == RAN
    assert ids["prog"] and ids["link"]
    e2e.assert_gone(ids)


@STDERR_GONE
def test_stderr_closed_an_error_still_exits_1(e2e, kernel, tmp_path, redirect):
    r, ids = _logged_sh(e2e, tmp_path, f'exec "$@" {redirect}', "-e",
                        'BEGIN { @x = 1; @x = "s"; }')
    assert r.returncode == 1
    assert r.stdout == b""


def test_stdin_closed_the_trace_runs(e2e, kernel, tmp_path):
    r, ids = _logged_sh(e2e, tmp_path, 'exec "$@" <&-', "-e", RUNS)
    assert r.returncode == 0, r.stderr
    assert r.stdout == RAN
    assert r.stderr == b"Attached 3 probes\n"
    e2e.assert_gone(ids)


def test_read_only_working_directory(e2e, kernel, tmp_path):
    """Nothing bpfscope writes goes to the working directory: a read-only
    one changes nothing; a relative -o there is bpftrace's -o error."""
    r, ids = _ro_run(e2e, tmp_path, "-e", RUNS, cd=True)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == (RAN, b"Attached 3 probes\n")
    assert ids["prog"]
    e2e.assert_gone(ids)
    r, ids = _ro_run(e2e, tmp_path, "-o", "out", "-e", RUNS, cd=True)
    assert r.returncode == 1
    assert r.stderr == b'ERROR: Failed to open output file: "out": Read-only file system\n'
    assert not any(ids.values())


def test_deleted_working_directory(e2e, kernel, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    r, ids = _logged_sh(e2e, tmp_path, f'cd "{gone}" && rmdir "{gone}" && exec "$@"',
                        "-e", RUNS)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == (RAN, b"Attached 3 probes\n")
    e2e.assert_gone(ids)


# ---------------------------------------------------------------- no probes

@pytest.mark.parametrize("prog", ["", "  \n", "// a comment only",
                                  "config = { max_map_keys = 10 }", "macro m() { 1 }"],
                         ids=["empty", "blank", "comment", "config", "macro"])
def test_no_probes(e2e, no_leaks, prog):
    """bpftrace 0.26 (BPFtrace::prerun): "No probes to attach" on stdout,
    exit 1, nothing loaded (here it ran for ever, "Attached 0 probes")."""
    mark = e2e.bpf_ids()
    r = e2e.run_cli("-e", prog, timeout=20)
    assert (r.returncode, r.stdout, r.stderr) == (1, "No probes to attach\n", "")
    assert not any(e2e.created_since(mark).values())


def test_no_probes_quiet_and_o(e2e, no_leaks, tmp_path):
    r = e2e.run_cli("-q", "-e", "")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")
    # the message is bpftrace's std::cout, not its -o stream; the file was
    # opened (created) before, as there
    out = tmp_path / "out"
    script = tmp_path / "empty.bt"
    script.write_text("")
    r = e2e.run_cli("-o", str(out), str(script))
    assert (r.returncode, r.stdout, r.stderr) == (1, "No probes to attach\n", "")
    assert out.read_text() == ""


def test_sigusr1_does_not_end_the_trace(e2e, no_leaks):
    """bpftrace takes SIGUSR1 over while it traces (for self:signal
    probes); a script without them runs on. The default action would kill
    the tracer."""
    t = e2e.Trace("-e", HUP)
    assert t.proc.stdout.readline() == b"begin\n"
    t.proc.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert t.proc.poll() is None
    t.proc.send_signal(signal.SIGINT)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out.startswith("end\n\n\n@i: ")


# ---------------------------------------------------------------- output that cannot be written

FULL = ('BEGIN { printf("begin\\n"); } interval:ms:10 { printf("tick\\n"); @n = count(); } '
        'interval:ms:200 { exit(); }')


def test_output_file_full(e2e, kernel, tmp_path):
    """-o on a full device (/dev/full: every write fails with ENOSPC): one
    error line, exit 1, everything detached. (bpftrace's stream would drop
    the output and trace on without a word.)"""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    r, ids = _logged_sh(e2e, tmp_path, 'exec "$@"', "-o", "/dev/full", "-e", FULL)
    assert r.returncode == 1, r.stderr
    assert r.stderr == (b'Attached 3 probes\n'
                        b'ERROR: Failed to write to output file: "/dev/full": '
                        b'No space left on device\n')
    assert ids["prog"]
    e2e.assert_gone(ids)


@pytest.mark.parametrize("args", [("-e", FULL), ("-f", "json", "-e", FULL), ("-e", ""),
                                  ("-l", "tracepoint:syscalls:sys_enter_getppid"), ("-h",)],
                         ids=["trace", "json", "no-probes", "listing", "help"])
def test_stdout_full(e2e, kernel, tmp_path, args):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    r, ids = _logged_sh(e2e, tmp_path, 'exec "$@" >/dev/full', *args)
    assert r.returncode == 1, r.stderr
    assert r.stderr.endswith(b"ERROR: Failed to write to stdout: No space left on device\n")
    assert b"Traceback" not in r.stderr and r.stderr.count(b"\n") <= 2, r.stderr
    e2e.assert_gone(ids)


def test_sigint_at_any_moment_of_start_up(kernel):
    """^C at moments spread over start-up (imports, compiling 360
    tracepoints, loading, attaching): the run always ends at once, by
    SIGINT (before the session), with 255 (while attaching) or, once
    attached, as any ^C (END, maps, 0); never with a traceback from
    bpfscope's code and never running on. (A ^C inside the interpreter's
    own site imports, before bpfscope runs, is left out.)"""
    prog = 'tracepoint:syscalls:sys_enter_* { @[probe] = count(); } END { printf("end\\n"); }'
    ends = set()
    for delay in (0.03, 0.06, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        p = subprocess.Popen([*CLI, "-e", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        try:
            # detaching 360 tracepoints waits out the kernel's grace periods
            # (about 11 s here, more on a loaded machine)
            out, err = p.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail(f"^C after {delay} s was lost: the trace ran on")
        text = err.decode(errors="replace")
        if "init_import_site" in text:
            continue  # the interpreter was still starting: not bpfscope's
        assert "/bpfscope/" not in text, (delay, text)
        if "Attached" in text:
            assert p.returncode == 0 and out.startswith(b"end\n"), (delay, text)
        else:
            assert p.returncode in (-signal.SIGINT, 255) and out == b"", (delay, text)
        ends.add(p.returncode)
    assert -signal.SIGINT in ends, ends  # the early ones came before the session


@pytest.fixture(scope="module")
def installed_command(tmp_path_factory) -> str:
    """bpfscope pip-installed (not editable: the checkout's editable
    finder imports pathlib on the first import of bpfscope) into a venv
    of the test's own; its bpfscope command."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps",
                        "--disable-pip-version-check", repo], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"pip could not install the checkout: {r.stderr.strip()[-300:]}")
    return str(venv / "bin" / "bpfscope")


def test_sigint_in_the_first_milliseconds_of_the_installed_command(installed_command):
    """The installed `bpfscope` command (scripts/bpfscope, through
    bpfscope.launch) gives ^C its default action before it loads anything
    of the tracer: a ^C at any of the first 40 ms ends it by SIGINT with
    no traceback, but for one inside the interpreter's own start-up
    (CPython's "Fatal Python error: init_..." or "Failed checking if
    argv[0] is an import path entry" or "failed to set
    __main__.__loader__", or the signal CPython finds pending
    as it starts the script, "line 0", before its first line).
    pip's generated console script imported re first: a third of these
    runs printed a traceback from the script's imports."""
    exe = installed_command
    ends, ours = collections.Counter(), []
    for i in range(80):
        p = subprocess.Popen([exe, "--dry-run", "-e", "BEGIN { exit() }"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep((i % 40) / 1000)
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=60)[1].decode(errors="replace")
        frames = [ln for ln in err.splitlines() if ln.startswith("  File ")]
        if ("Fatal Python error: init_" in err or "Failed checking if argv[0]" in err
                or "failed to set __main__.__loader__" in err
                # raised with no Python frame at all: CPython reading the
                # script file (an EINTR'd read checks signals) before any
                # code runs; a line of ours would show its frame
                or (not frames and err.strip() == "KeyboardInterrupt")
                or (len(frames) == 1 and frames[0].endswith("line 0, in <module>"))):
            ends["interpreter start-up"] += 1
            continue
        if "Traceback" in err or "KeyboardInterrupt" in err:
            ours.append(err)
        ends[p.returncode] += 1
    assert not ours, ours[0]
    assert ends[-signal.SIGINT] > 0, ends
    assert set(ends) <= {-signal.SIGINT, 0, "interpreter start-up"}, ends
