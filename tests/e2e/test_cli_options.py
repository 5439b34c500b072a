"""bpftrace 0.26's command line: every long option, and its messages for
bad values (one ``ERROR:`` line, exit status 1, nothing on stdout)."""

from __future__ import annotations

import os

import pytest

from bpfscope.cliopts import parse_pid, parse_uint
from bpfscope.errors import BpfscopeError

EXIT = "BEGIN { exit(); }"


def _error(r, expected: str):
    assert "Traceback" not in r.stderr, r.stderr
    assert (r.returncode, r.stdout, r.stderr) == (1, "", expected)


# ------------------------------------------------------------ numbers

@pytest.mark.parametrize("text, value", [
    ("123", 123), ("0x10", 16), ("0b101", 5), ("017", 15), ("1_000", 1000),
    ("1e3", 1000), ("10u", 10), ("10UL", 10), ("0", 0)])
def test_parse_uint_reads_bpftrace_numbers(text, value):
    assert parse_uint(text) == value


@pytest.mark.parametrize("text, message", [
    ("a1111", "invalid integer: a1111"),
    ("111a1", "invalid trailing bytes: 111a1"),
    ("not_a_pid", "invalid integer: not_a_pid"),
    ("", "invalid integer: "),
    ("12e3", "coefficient part of scientific literal must be 1-9: 12e3"),
    ("4294967296u", "overflow error, maximum value is 4294967295: 4294967296u")])
def test_parse_uint_errors_in_bpftrace_words(text, message):
    with pytest.raises(ValueError) as e:
        parse_uint(text)
    assert str(e.value) == message


def test_parse_pid_bounds():
    assert parse_pid("4194304") == 0x400000
    with pytest.raises(BpfscopeError) as e:
        parse_pid("4194305")
    assert e.value.format() == "ERROR: Pid out of range: 4194305"


@pytest.mark.parametrize("value, message", [
    ("a1111", "ERROR: Failed to parse pid: invalid integer: a1111\n"),
    ("111a1", "ERROR: Failed to parse pid: invalid trailing bytes: 111a1\n"),
    ("not_a_pid", "ERROR: Failed to parse pid: invalid integer: not_a_pid\n"),
    ("5000000", "ERROR: Pid out of range: 5000000\n")])
@pytest.mark.parametrize("flag", ["-p", "--pid", "--dwarf-pid"])
def test_pid_validation(e2e, flag, value, message):
    _error(e2e.run_cli(flag, value, "-e", EXIT), message)


# ------------------------------------------------------------ bad values

@pytest.mark.parametrize("args, message", [
    (["-B", "bad"], "ERROR: USAGE: -B must be either 'line', 'full', or 'none'.\n"),
    (["-d", "ast,bad"], "ERROR: USAGE: invalid option for -d: bad\n"),
    (["--debug", "nope"], "ERROR: USAGE: invalid option for -d: nope\n"),
    (["--no-feature", "bad"], "ERROR: USAGE: --no-feature can only have values "
                              "'kprobe_multi,kprobe_session,uprobe_multi'.\n"),
    (["-k", "--no-warnings"], "ERROR: USAGE: -k, --warnings conflicts with --no-warnings\n"),
    (["--warnings", "--no-warnings"],
     "ERROR: USAGE: -k, --warnings conflicts with --no-warnings\n"),
    (["--mode", "bad"], "ERROR: USAGE: --mode can only be 'codegen', 'compiler-bench', "
                        "'bench', 'test' or 'format'.\n"),
    (["--mode", "codegen", "--test"], "ERROR: USAGE: --test conflicts with existing --mode\n"),
    (["--fmt", "--bench"], "ERROR: USAGE: --bench conflicts with existing --mode\n"),
    (["--mode", "test"], "ERROR: --mode test is not supported yet\n"),
    (["--aot", "x"], "ERROR: --aot is not supported: bpfscope compiles and loads its "
                     "programs itself, with no ahead-of-time build\n"),
    (["--traceable-functions", "/no/such/list"],
     "ERROR: Failed to open kernel function info: '/no/such/list': "
     "No such file or directory\n")])
def test_bad_option_values(e2e, args, message):
    _error(e2e.run_cli(*args, "-e", EXIT), message)


def test_cmd_and_pid_together(e2e):
    r = e2e.run_cli("--cmd", "true", "--pid", "1", "-e", EXIT)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("ERROR: USAGE: Cannot use both -c and -p.\nUSAGE:\n")


def test_invalid_output_format_after_compiling(e2e):
    # as 0.26: checked once the script compiled, with the valid ones
    _error(e2e.run_cli("-q", "-f", "jsonx", "-e", "BEGIN { @scalar = 5; exit(); }"),
           "ERROR: Invalid output format \"jsonx\"\nValid formats: 'text', 'json'\n")
    r = e2e.run_cli("-f", "jsonx", "-e", "BEGIN { foo(); }")
    assert r.returncode == 1 and "Unknown function: 'foo'" in r.stderr


# ------------------------------------------------------------ the long forms

def test_long_options_run_a_trace(e2e, kernel, tmp_path):
    out = tmp_path / "out.txt"
    r = e2e.run_cli("--quiet", "--output", str(out), "--warnings", "--btf",
                    "--no-feature", "uprobe_multi,kprobe_multi,kprobe_session",
                    "-e", 'BEGIN { printf("%d\\n", cpid > 0); exit(); }', "--cmd", "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert out.read_text() == "1\n\n\n"


def test_pid_long_form_filters(e2e, kernel):
    r = e2e.run_cli("--pid", str(os.getpid()), "-q", "-e",
                    'BEGIN { printf("%d\\n", 1); exit(); }')
    assert (r.returncode, r.stdout, r.stderr) == (0, "1\n\n\n", "")


def test_dwarf_pid_is_accepted(e2e, kernel):
    r = e2e.run_cli("--dwarf-pid", "1", "--dwarf-pid", "0x2", "-q", "-e",
                    'BEGIN { printf("x\\n"); exit(); }')
    assert (r.returncode, r.stdout, r.stderr) == (0, "x\n\n\n", "")


def test_debug_and_verbose_long_forms(e2e):
    r = e2e.run_cli("--dry-run", "--debug", "ast", "-e", "BEGIN { exit(); }")
    assert (r.returncode, r.stderr) == (0, "AST:\nBEGIN {\n    exit();\n}\n\n")
    r = e2e.run_cli("--dry-run", "--verbose", "-e", "BEGIN { exit(); }")
    assert r.returncode == 0 and "\nbegin (raw_tracepoint, " in r.stderr


def test_list_long_form(e2e, kernel):
    r = e2e.run_cli("--list", "tracepoint:sched:sched_switch", timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "tracepoint:sched:sched_switch\n", "")


def test_mode_codegen_compiles_and_loads_nothing(e2e, no_leaks):
    r = e2e.run_cli("--mode", "codegen", "-e", 'BEGIN { printf("ran\\n"); exit(); }')
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = e2e.run_cli("--mode", "codegen", "-e", "BEGIN { foo(); }")
    assert r.returncode == 1 and r.stderr.startswith("stdin:1:9-14: ERROR: Unknown function")


def test_fmt_prints_the_script(e2e, tmp_path):
    expected = "BEGIN {\n    @x = 1 + 2 * 3;\n    if (1) {\n        exit();\n    }\n}\n"
    for flags in (["--fmt"], ["--mode", "format"]):
        r = e2e.run_cli(*flags, "-e", "BEGIN{@x=1+2*3;if(1){exit()}}")
        assert (r.returncode, r.stdout, r.stderr) == (0, expected, "")
    out = tmp_path / "f.bt"
    r = e2e.run_cli("--fmt", "-o", str(out), "-e", "BEGIN{exit()}")
    assert (r.returncode, r.stdout, out.read_text()) == (0, "", "BEGIN {\n    exit();\n}\n")
    r = e2e.run_cli("--fmt", "-e", "BEGIN{@x=1+")
    assert r.returncode == 1
    assert r.stderr.startswith("stdin:1:12-13: ERROR: syntax error, unexpected end of file\n")


def test_traceable_functions_file(e2e, kernel, tmp_path):
    # the list replaces available_filter_functions: only what it names matches
    funcs = tmp_path / "funcs"
    funcs.write_text("vfs_read\nvfs_write\n")
    r = e2e.run_cli("--traceable-functions", str(funcs), "-l", "kprobe:vfs_*")
    assert (r.returncode, r.stdout, r.stderr) == (0, "kprobe:vfs_read\nkprobe:vfs_write\n", "")


def test_help_names_the_long_options(e2e):
    r = e2e.run_cli("--help")
    assert r.returncode == 0 and r.stdout.startswith("USAGE:\n")
    for opt in ("--pid PID", "--cmd CMD", "--list", "--verbose", "--output FILE", "--quiet",
                "--warnings", "--dwarf-pid", "--mode MODE", "--fmt", "--probe-filter",
                "--traceable-functions", "--no-feature", "--debug STAGE", "--dry-run"):
        assert opt in r.stdout, opt


def test_version_keeps_bpfscope_name(e2e):
    for flag in ("-V", "--version"):
        r = e2e.run_cli(flag)
        assert r.returncode == 0 and r.stdout.startswith("bpfscope v")


def test_no_feature_switches_uprobe_multi_off(e2e, kernel):
    r = e2e.run_cli("--no-feature", "uprobe_multi", "--info")
    assert r.returncode == 0, r.stderr
    assert "\n  uprobe_multi: no\n" in r.stdout
