"""User errors through the real CLI: exit status 1, no traceback, and
bpftrace's layout: ``stdin:L:C-C: ERROR: msg``, the source line, a ``~``
underline (the file name instead of stdin for a script file)."""

from __future__ import annotations

import pytest

# (program, exact stderr). Compile-time errors need no kernel, except the
# tracepoint ones, which read tracefs.
CASES = [
    ('BEGIN { printf("x" }',
     'stdin:1:20-21: ERROR: syntax error, unexpected }, expecting ) or ","\n'
     'BEGIN { printf("x" }\n'
     '                   ~\n'),
    ('BEGIN { @x = 1 +; }',
     'stdin:1:17-18: ERROR: syntax error, unexpected ;\n'
     'BEGIN { @x = 1 +; }\n'
     '                ~\n'),
    ('BEGIN { exit(); ',
     'stdin:1:17-18: ERROR: syntax error, unexpected end of file\n'
     'BEGIN { exit(); \n'
     '                ~\n'),
    ('BEGIN { foo(1); }',
     "stdin:1:9-15: ERROR: Unknown function: 'foo'\n"
     'BEGIN { foo(1); }\n'
     '        ~~~~~~\n'),
    ('BEGIN { @x = count(1); }',
     'stdin:1:14-22: ERROR: count() requires 0 arguments (1 provided)\n'
     'BEGIN { @x = count(1); }\n'
     '             ~~~~~~~~\n'),
    ('BEGIN { @x = lhist(1, 0, 10); }',
     'stdin:1:14-29: ERROR: lhist() requires 4 arguments (3 provided)\n'
     'BEGIN { @x = lhist(1, 0, 10); }\n'
     '             ~~~~~~~~~~~~~~~\n'),
    ('BEGIN { @x = hist("a"); }',
     "stdin:1:19-22: ERROR: hist() expects an integer for argument 1 ('string[2]' provided)\n"
     'BEGIN { @x = hist("a"); }\n'
     '                  ~~~\n'),
    ('BEGIN { exit("a"); }',
     "stdin:1:14-17: ERROR: exit() expects an integer for argument 1 ('string[2]' provided)\n"
     'BEGIN { exit("a"); }\n'
     '             ~~~\n'),
    ('BEGIN { @x = 1; @x = "a"; }',
     "stdin:1:17-19: ERROR: Type mismatch for @x: trying to assign value of type 'string[2]' "
     "when map already contains a value of type 'int64'\n"
     'BEGIN { @x = 1; @x = "a"; }\n'
     '                ~~\n'),
    ('BEGIN { @x = hist(1); @x = count(); }',
     "stdin:1:23-25: ERROR: Type mismatch for @x: trying to assign value of type 'count_t' "
     "when map already contains a value of type 'hist_t'\n"
     'BEGIN { @x = hist(1); @x = count(); }\n'
     '                      ~~\n'),
    ('BEGIN { @x[1] = 1; @x["a"] = 1; }',
     "stdin:1:23-26: ERROR: Argument mismatch for @x: trying to access with arguments: "
     "'string[2]' when map expects arguments: 'int64'\n"
     'BEGIN { @x[1] = 1; @x["a"] = 1; }\n'
     '                      ~~~\n'),
    ('BEGIN { printf("%d\\n", $y); }',
     'stdin:1:24-26: ERROR: Undefined or undeclared variable used: $y\n'
     'BEGIN { printf("%d\\n", $y); }\n'
     '                       ~~\n'),
    ('BEGIN { printf("%d\\n"); }',
     'stdin:1:9-23: ERROR: printf: Not enough arguments for format string (0 supplied, 1 expected)\n'
     'BEGIN { printf("%d\\n"); }\n'
     '        ~~~~~~~~~~~~~~\n'),
    ('BEGIN { printf("%d\\n", 1, 2); }',
     'stdin:1:9-29: ERROR: printf: Too many arguments for format string (2 supplied, 1 expected)\n'
     'BEGIN { printf("%d\\n", 1, 2); }\n'
     '        ~~~~~~~~~~~~~~~~~~~~\n'),
    ('iter:nosuch { }',
     "stdin:1:1-12: ERROR: iter:nosuch: this kernel has no iterator named nosuch "
     "(bpfscope -l 'iter:*' lists them)\n"
     'iter:nosuch { }\n'
     '~~~~~~~~~~~\n'),
    ('BEGIN { print(ctx); }',
     "stdin:1:15-18: ERROR: The ctx builtin can not be used with 'BEGIN' probes\n"
     'BEGIN { print(ctx); }\n'
     '              ~~~\n'),
]

TP_CASES = [
    ('tracepoint:nosuch:thing { }',
     # bpftrace 0.26: a located warning, then its attach error
     'stdin:1:1-24: WARNING: tracepoint not found: nosuch:thing\n'
     'tracepoint:nosuch:thing { }\n'
     '~~~~~~~~~~~~~~~~~~~~~~~\n'
     "ERROR: Unable to attach probe: tracepoint:nosuch:thing. If this is expected, set the "
     "'missing_probes' config variable to 'warn'.\n"),
    ('tracepoint:syscalls:sys_enter_nosuch* { }',
     'stdin:1:1-38: ERROR: No tracepoints match tracepoint:syscalls:sys_enter_nosuch*\n'
     'tracepoint:syscalls:sys_enter_nosuch* { }\n'
     '~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n'),
    ('tracepoint:syscalls:sys_enter_openat { printf("%d\\n", args.nosuch); }',
     "stdin:1:55-66: ERROR: Can't find field 'nosuch' in args of "
     "tracepoint:syscalls:sys_enter_openat\n"
     'tracepoint:syscalls:sys_enter_openat { printf("%d\\n", args.nosuch); }\n'
     '                                                      ~~~~~~~~~~~\n'),
]


def _check(r, expected):
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == expected


@pytest.mark.parametrize("prog,expected", CASES, ids=[c[0] for c in CASES])
def test_compile_error(e2e, prog, expected):
    _check(e2e.run_cli("-e", prog), expected)


@pytest.mark.parametrize("prog,expected", TP_CASES, ids=[c[0] for c in TP_CASES])
def test_tracepoint_error(e2e, kernel, prog, expected):
    _check(e2e.run_cli("-e", prog), expected)


def test_error_in_script_file_names_the_file(e2e, tmp_path):
    f = tmp_path / "bad.bt"
    f.write_text("BEGIN {\n  @x = 1;\n  foo();\n}\n")
    r = e2e.run_cli(str(f))
    _check(r, f"{f}:3:3-8: ERROR: Unknown function: 'foo'\n  foo();\n  ~~~~~\n")


def test_missing_script_file(e2e, tmp_path):
    r = e2e.run_cli(str(tmp_path / "nope.bt"))
    _check(r, f"ERROR: failed to open file '{tmp_path / 'nope.bt'}': No such file or directory\n")


def test_no_arguments_print_the_usage(e2e):
    r = e2e.run_cli()
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("USAGE:\n")


def test_no_program(e2e):
    r = e2e.run_cli("-q")
    _check(r, "ERROR: USAGE: filename or -e 'program' required.\n")


def test_unknown_option(e2e):
    r = e2e.run_cli("--no-such-flag", "-e", "BEGIN { exit(); }")
    assert r.returncode == 1
    assert r.stderr.startswith("ERROR: ")
    assert "Traceback" not in r.stderr


def test_undefined_map(e2e):
    r = e2e.run_cli("-e", "BEGIN { print(@nosuch); }")
    _check(r, "stdin:1:15-22: ERROR: Undefined map: @nosuch\n"
              "BEGIN { print(@nosuch); }\n"
              "              ~~~~~~~\n")


def test_printf_argument_type(e2e):
    r = e2e.run_cli("-e", 'BEGIN { printf("%d\\n", "str"); exit(); }')
    assert r.returncode == 1
    assert "ERROR: printf: %d specifier expects a value of type integer" in r.stderr


def test_verifier_rejection(e2e, kernel):
    # the loop reads $x (an unread $x++ is dead code, which the peephole
    # pass drops: the verifier then finds the loop at once), so the
    # verifier walks it to its instruction limit
    prog = 'BEGIN { $x = 0; while ($x >= 0) { $x++; } }'
    r = e2e.run_cli("-e", prog)
    assert "Traceback" not in r.stderr
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == ("stdin:1:1-6: ERROR: Error loading BPF program for begin: the verifier "
                        "rejected it (Argument list too long (E2BIG))")
    assert lines[1] == prog
    assert lines[2] == "~~~~~"
    # the verifier's own reason, then a hint
    assert "BPF program is too large. Processed 1000001 insn" in lines
    assert lines[-1] == "(run with -v for the full verifier log)"
    assert len(lines) < 20


def test_verifier_rejection_verbose_gives_full_log(e2e, kernel):
    r = e2e.run_cli("-v", "-e", 'BEGIN { $x = 0; while ($x >= 0) { $x++; } }', timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "(run with -v" not in r.stderr
    lines = r.stderr.splitlines()
    # the whole log: from instruction 0 on, many thousand lines
    assert len(lines) > 10000
    assert any(line.startswith("0: ") for line in lines[:100])
    assert "BPF program is too large. Processed 1000001 insn" in lines


@pytest.mark.parametrize("lic, ok", [("Potato", False), ("Dual BSD/GPL", True), ("GPL v2", True)])
def test_license_config_is_the_programs_and_gpl_only_helpers_refuse_others(e2e, kernel, lic, ok):
    # curtask is bpf_get_current_task, a GPL-only helper; the kernel says
    # which licences are GPL compatible, bpfscope tells the user as 0.26
    prog = f'config = {{ license = "{lic}" }} BEGIN {{ printf("%d\\n", curtask->pid == tid); }}'
    r = e2e.run_cli("-q", "-e", prog)
    assert "Traceback" not in r.stderr
    if ok:
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "1"
    else:
        assert r.returncode == 1
        assert r.stderr.splitlines()[0] == (
            "ERROR: Your bpftrace program cannot load because you are using a license that "
            "is non-GPL compatible. License: Potato")


def test_a_non_gpl_license_loads_a_program_without_gpl_only_helpers(e2e, kernel):
    r = e2e.run_cli("-q", "-e", 'config = { license = "Potato" } BEGIN { printf("%d\\n", 7); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "7"


def test_verbose_names_each_record(e2e):
    # bpftrace 0.26's -v line per ring buffer record, before what it prints
    r = e2e.run_cli("-v", "-e", 'BEGIN { print(7); printf("x%d\\n", 1); exit(); }')
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "async action" in ln]
    assert lines == ["[NORMAL] Event print async action print_non_map",
                     "[NORMAL] Event print async action printf",
                     "[NORMAL] Event print async action exit"]
    assert r.stdout.splitlines()[:2] == ["7", "x1"]


def test_records_not_named_without_verbose(e2e):
    r = e2e.run_cli("-e", 'BEGIN { printf("x\\n"); exit(); }')
    assert r.returncode == 0 and "async action" not in r.stderr
