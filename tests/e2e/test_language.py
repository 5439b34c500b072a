"""Language features of bpftrace 0.26 run for real: block expressions and
block scopes of scratch variables, macros, named parameters (getopt)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

# The helper under a name of its own: other tests run bse2e too, maybe at
# the same time, and these count events by the process's name.
COMM = "bslang"


@pytest.fixture
def own_helper(helper, tmp_path):
    path = tmp_path / COMM
    shutil.copy(helper, path)
    return str(path)


def test_block_expressions_and_scopes(e2e):
    r = e2e.run_prog(r'''BEGIN {
        $x = { let $y = 2; $y * 3 };
        $s = { let $t = "ab"; $t };
        printf("%d %s\n", $x, $s);
        if ($x == 6) { $v = 1; printf("%d\n", $v); } else { $v = "no"; printf("%s\n", $v); }
        $a = 1;
        if ($x > 0) { $a = 2; }
        printf("%d %d\n", $a, { $a + 40 });
        @k[1] = 1;
        _ = has_key(@k, 1);
        exit();
    }''')
    assert r.stdout == "6 ab\n1\n2 42\n\n\n@k[1]: 1\n"


def test_let_starts_at_zero_each_time_it_runs(e2e):
    r = e2e.run_prog(r'''BEGIN {
        $i = 0;
        while ($i < 3) { let $n: int64; $n += $i; printf("%d ", $n); $i++; }
        printf("\n");
        exit();
    }''')
    assert r.stdout == "0 1 2 \n\n\n"


def test_variable_of_a_branch_is_gone_after_it(e2e):
    r = e2e.run_cli("-e", "BEGIN { if (1) { $b = 1; } print($b); }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:34-36: ERROR: Undefined or undeclared variable used: $b\n"
                        "BEGIN { if (1) { $b = 1; } print($b); }\n"
                        "                                 ~~\n")


MACROS = r'''
macro one() { 1 }
macro add_one(x) { x + 1 }
macro add_one_to_each($a, @b) {
  $a += 1;
  @b += 1;
}
macro side_effects(x) { x; x; x; }
macro add_two(x) { add_one(x) + 1 }
macro own() { let $t = 40; $t + 2 }

BEGIN {
  print(one());
  print(one);
  $a = 10;
  print(add_one($a));
  print(add_one(1 + 1));
  @b = 5;
  add_one_to_each($a, @b);
  print($a + @b);
  side_effects({ printf("hi") });
  printf("\n");
  print(add_two(1));
  $t = "caller's";
  printf("%d %s\n", own(), $t);
  exit();
}
'''


def test_macros_as_documented(e2e, tmp_path):
    script = tmp_path / "macros.bt"
    script.write_text(MACROS)
    r = e2e.run_cli(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n1\n11\n3\n17\nhihihi\n3\n42 caller's\n\n\n@b: 6\n"


def test_macro_in_a_predicate_filters_real_events(e2e, own_helper):
    # the helper calls getpid 7 times; only its calls pass the macro
    t = e2e.Trace("-e", 'macro mine(name) { comm == name } '
                  f'tracepoint:syscalls:sys_enter_getpid /mine("{COMM}")/ {{ @n = count(); }} '
                  f'tracepoint:syscalls:sys_exit_getpid /mine("{COMM}") && @n == 7/ {{ exit(); }}')
    subprocess.run([own_helper, "getpid", "7"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out == "\n\n@n: 7\n"


def test_expression_for_a_variable_parameter_runs_at_each_use(e2e):
    # 0.26: the expression is pasted where $x is read, so its side effect runs twice
    r = e2e.run_prog(r'''macro twice($x) { $p = $x; $q = $x; $p * 10 + $q } macro inc($v) { $v += 1; }
        BEGIN { $n = 1; $a = twice({ $n += 1; $n }); $b = 5; inc($b); printf("%d %d %d\n", $a, $n, $b); exit(); }''')
    assert r.stdout.startswith("23 3 6\n")


def test_macro_misuse_is_reported_at_the_call(e2e):
    r = e2e.run_cli("-e", "macro w($x) { $x++ } BEGIN { @x = 1; w(@x); }")
    assert r.returncode == 1
    assert r.stderr == (
        "stdin:1:40-42: ERROR: Mismatched arg. w() expects a variable for arg $x but got a map.\n"
        "macro w($x) { $x++ } BEGIN { @x = 1; w(@x); }\n"
        "                                       ~~\n")


def test_named_and_positional_parameters_after_double_dash(e2e, tmp_path):
    prog = 'BEGIN { print(($1, $2, getopt("aa", 1), getopt("bb"), getopt("cc", "dflt"))); exit(); }'
    r = e2e.run_prog(prog, "p1", "--", "--aa=20", "--bb", "p2")
    assert r.stdout == "(p1, p2, 20, true, dflt)\n\n\n"
    # a script file, parameters only after --
    script = tmp_path / "opts.bt"
    script.write_text(prog)
    r = e2e.run_cli("-q", str(script), "--", "p1", "--cc=given", "p2", "--aa=-5")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "(p1, p2, -5, false, given)\n\n\n"


def test_named_parameters_filter_real_events(e2e, own_helper):
    # count the helper's getpid calls whose comm the script was told to
    # watch, and stop at the number it was told to wait for
    t = e2e.Trace("-e", 'tracepoint:syscalls:sys_enter_getpid /comm == getopt("who", "none")/ '
                  '{ @n = count(); } '
                  'tracepoint:syscalls:sys_exit_getpid /comm == getopt("who", "none") && '
                  '@n == getopt("stop", 0)/ { printf("saw %d\\n", getopt("stop", 0)); exit(); }',
                  "--", f"--who={COMM}", "--stop=5")
    subprocess.run([own_helper, "getpid", "5"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out == "saw 5\n\n\n@n: 5\n"


@pytest.mark.parametrize("args, message", [
    (["--", "--aa=x"], "ERROR: Program option --aa expects an integer, got 'x'\n"),
    (["--", "--zz"], "ERROR: unexpected program command line options: --zz\n"
                     "HINT: expected program options: --aa\n"),
])
def test_bad_named_parameters_are_errors(e2e, args, message):
    r = e2e.run_cli("-e", 'BEGIN { print(getopt("aa", 1)); exit(); }', *args)
    assert r.returncode == 1
    assert r.stderr == message


def _pinned(helper, cpu, *args):
    subprocess.run([helper, *args], check=True,
                   preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))


def test_per_cpu_map_kinds_merge_over_cpus(e2e, own_helper):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to run the helper on")
    a, b = cpus[:2]
    # each CPU counts its own getpid calls in its own slot; printed at
    # exit, the slots add up. Reading and ++ act on this CPU's slot (had
    # they read the sum, the second CPU would count from 3 and reach 10).
    t = e2e.Trace("-e", 'let @n = percpuhash(4); let @c = percpuarray(8); let @h = percpulruhash(2); '
                  f'tracepoint:syscalls:sys_enter_getpid /comm == "{COMM}"/ '
                  '{ @n["calls"]++; @c[cpu] = count(); @h[1] = sum(10); } '
                  f'tracepoint:syscalls:sys_enter_getppid /comm == "{COMM}"/ '
                  '{ @own[cpu] = @n["calls"]; @p = count(); if (@p == 7) { exit(); } }')
    _pinned(own_helper, a, "getpid", "3")
    _pinned(own_helper, b, "getpid", "4")
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out == (f"\n\n@c[{a}]: 3\n@c[{b}]: 4\n@h[1]: 70\n@n[calls]: 7\n"
                   f"@own[{a}]: 3\n@own[{b}]: 4\n@p: 7\n")


FUNCTIONS = r'''
fn clamp($v: int64, $hi: int64): int64 {
  if ($v > $hi) {
    return $hi;
  }
  return $v;
}
fn same($s: string): string { $t = $s; return $t; }
fn sumto($n: int64): int64 {
  $acc = 0;
  for ($i : 0..$n) {
    if ($i == 3) { continue; }
    $acc += $i;
  }
  return $acc;
}
fn hello(): void { printf("hello\n"); return; printf("never\n"); }
fn narrow($b: uint8): int64 { return $b; }
fn nested($x: int64): int64 { return clamp($x * 2, 100) + 1; }

BEGIN {
  $v = 7;
  printf("%d %d %s %d\n", clamp(5, 3), clamp($v, 10), same("abc"), sumto(5));
  hello();
  printf("%d %d %d\n", narrow(300), nested(20), nested(clamp(90, 80)));
  exit();
}
'''


def test_user_functions_are_inlined(e2e, tmp_path):
    script = tmp_path / "fns.bt"
    script.write_text(FUNCTIONS)
    r = e2e.run_cli("-q", str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "3 7 abc 7\nhello\n44 41 101\n\n\n"


def test_user_function_with_an_unused_parameter(e2e):
    # the parameter is in no statement of the body (a KeyError in codegen once)
    r = e2e.run_prog("fn second($a: int64, $b: int64): int64 { return $b; } "
                     "fn none($s: string): void { return; } "
                     'BEGIN { none("x"); printf("%d\\n", second(1, 2)); exit(); }')
    assert r.stdout == "2\n\n\n"


def test_user_function_on_real_events(e2e, own_helper):
    # a function of the probe's own builtins, called from a predicate and a body
    t = e2e.Trace("-e", 'fn mine(): bool { return comm == "' + COMM + '"; } '
                  'fn bucket($n: int64): int64 { return $n / 4 * 4; } '
                  'tracepoint:syscalls:sys_enter_getpid /mine()/ { @n = count(); } '
                  'tracepoint:syscalls:sys_enter_getppid /mine()/ '
                  '{ @b[bucket(@n)] = count(); if (@b[8] == 9) { exit(); } }')
    subprocess.run([own_helper, "getpid", "9"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out == "\n\n@b[8]: 9\n@n: 9\n"


def test_imported_scripts_run_with_the_importer(e2e, own_helper, tmp_path):
    os.chmod(tmp_path, 0o700)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "counting.bt").write_text(
        'macro mine() { comm == "' + COMM + '" }\n'
        "fn bucket($n: int64): int64 { return $n / 4 * 4; }\n"
        'BEGIN { printf("lib begins\\n"); }\n'
        "tracepoint:syscalls:sys_enter_getpid /mine()/ { @n = count(); }\n")
    main = tmp_path / "main.bt"
    main.write_text('import "lib/counting.bt";\n'
                    'BEGIN { printf("main begins\\n"); }\n'
                    "tracepoint:syscalls:sys_enter_getppid /mine()/ "
                    "{ @b[bucket(@n)] = count(); if (@b[4] == 6) { exit(); } }\n")
    t = e2e.Trace(str(main))
    subprocess.run([own_helper, "getpid", "6"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert t.head == "Attached 4 probes\n"
    assert out == "lib begins\nmain begins\n\n\n@b[4]: 6\n@n: 6\n"


def test_error_in_an_imported_script_names_it(e2e, tmp_path):
    os.chmod(tmp_path, 0o700)
    lib = tmp_path / "lib.bt"
    lib.write_text('BEGIN {\n  $x = "a" + 1;\n}\n')
    main = tmp_path / "main.bt"
    main.write_text('import "lib.bt";\nBEGIN { exit(); }\n')
    r = e2e.run_cli(str(main))
    assert r.returncode == 1
    assert r.stderr == (f"{lib}:2:8-15: ERROR: Invalid operands for '+': 'string[2]' and 'int64'\n"
                        '  $x = "a" + 1;\n'
                        "       ~~~~~~~\n")


def test_per_cpu_maps_in_json(e2e):
    r = e2e.run_prog('let @a = percpuhash(4); let @c = percpuarray(4); '
                     'BEGIN { @a[1]++; @a[1]++; @c[2] = count(); exit(); }', "-f", "json")
    assert r.stdout == ('{"type": "map", "data": {"@a": {"1": 2}}}\n'
                        '{"type": "map", "data": {"@c": {"2": 1}}}\n')


@pytest.mark.parametrize("limit", [0, 1, 8])
def test_a_tiny_on_stack_limit_still_loads(e2e, limit):
    # the scratch map's key and other 8-byte helper slots stay on the stack
    # (with on_stack_limit 0 the verifier refused every program)
    r = e2e.run_prog(f"config = {{ on_stack_limit = {limit} }} "
                     'BEGIN { @[str("ab")] = count(); $t = (1, "xy"); print($t); '
                     'printf("%s %d\\n", str("abc"), 5); exit(); }')
    assert r.stdout.split() == ["(1,", "xy)", "abc", "5", "@[ab]:", "1"]


def test_conditions_and_loops_without_parentheses(e2e):
    r = e2e.run_prog('begin { $x = 2; if $x > 1 { printf("if "); } else if $x { printf("no "); } '
                     '$i = 0; while $i < 3 { $i++; printf("w%d ", $i); } '
                     'for $j : 1..3 { printf("f%d ", $j); } '
                     '@m[7] = 8; for $kv : @m { printf("k%d=%d\\n", $kv.0, $kv.1); } '
                     'clear(@m); exit(); }')
    assert r.stdout.splitlines()[0] == "if w1 w2 w3 f1 f2 k7=8"


def test_empty_middle_operand_and_nested_ternaries(e2e):
    # `a ?: b` evaluates a once: @n++ runs twice in all, not three times
    r = e2e.run_prog('begin { $z = 0; $f = 5; @n = 0; '
                     '$a = @n++ ?: 9; $b = @n++ ?: 9; '
                     'printf("%d %d %d %d %d\\n", $z ?: 7, $f ?: 7, $a, $b, @n); '
                     'printf("%d %d\\n", $z ? 1 : $f ? 2 : 3, $f ? $z ? 1 : 4 : 3); '
                     'clear(@n); exit(); }')
    assert r.stdout.splitlines()[:2] == ["7 5 9 1 2", "2 4"]


def traced(e2e, prog, helper, *args):
    """What ``prog`` prints, traced while the helper runs ``args``; it must
    end well."""
    t = e2e.Trace("-e", prog)
    subprocess.run([helper, *args], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    return out


def test_bare_condition_filters_real_events(e2e, own_helper):
    # the helper calls getpid 3 times; the third call ends the trace
    out = traced(e2e, f'tracepoint:syscalls:sys_enter_getpid {{ if comm == "{COMM}" '
                 '{ @n = count(); if @n == 3 { exit(); } } }', own_helper, "getpid", "3")
    assert out == "\n\n@n: 3\n"


def test_strings_and_tuples_indexed_with_brackets(e2e):
    r = e2e.run_prog('begin { $s = "hey"; $t = (1, "two", 3); $i = 0; $n = 0; '
                     'while $i < 4 { $n += $s[$i]; $i++; } '
                     'printf("%c%c %d %d %s %d\\n", $s[0], $s[2], $n, $s[3], $t[1], $t[3 - 1]); '
                     'exit(); }')
    assert r.stdout.splitlines()[0] == f"hy {ord('h') + ord('e') + ord('y')} 0 two 3"


def test_comm_indexed_in_real_events(e2e, own_helper):
    t = e2e.Trace("-e", 'tracepoint:syscalls:sys_enter_getpid '
                  f'/comm == "{COMM}"/ {{ $i = 5; printf("%c%c\\n", comm[0], comm[$i]); exit(); }}')
    subprocess.run([own_helper, "getpid", "3"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out.splitlines()[0] == COMM[0] + COMM[5]


def test_delete_result_and_tuple_keys_of_multi_key_maps(e2e):
    r = e2e.run_prog('begin { @m[1, 2] = 3; @m[(4, 5)] = 6; $t = (4, 5); '
                     'printf("%d %d %d ", has_key(@m, (1, 2)), has_key(@m, $t), @m[$t]); '
                     'printf("%d %d %d\\n", delete(@m, (1, 2)), delete(@m, (1, 2)), '
                     'has_key(@m, 1, 2)); @k[(7,)] = 1; exit(); }')
    assert r.stdout == "1 1 6 1 0 0\n\n\n@k[7]: 1\n@m[4, 5]: 6\n"


@pytest.mark.parametrize("prog, arg", [
    ('interval:ms:$1 { printf("tick\\n"); exit(); }', "5"),
    ('BEG$1 { printf("tick\\n"); exit(); }', "IN"),
    ('$1 { printf("tick\\n"); exit(); }', "begin"),
])
def test_positional_parameters_in_attach_points(e2e, prog, arg):
    assert e2e.run_prog(prog, arg).stdout.splitlines()[0] == "tick"


def test_late_declarations_read_zero_until_assigned(e2e):
    r = e2e.run_prog('begin { let $x; let $s; printf("%d [%s] ", $x, $s); $x = 4; $s = "ab"; '
                     'printf("%d [%s]\\n", $x, $s); exit(); }')
    assert r.stdout.splitlines()[0] == "0 [] 4 [ab]"


@pytest.mark.parametrize("text, want", [
    # the tools' pattern: their own struct for kernels without BTF, which
    # would read wrong offsets if kept
    ('#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\nstruct task_struct { int tgid; };\n'
     '#endif\n#define LABEL "same"\n'
     'begin { printf("%s %d\\n", LABEL, curtask->tgid == pid); exit(); }\n', "same 1"),
    ("struct P { char a; int b; } __attribute__((packed));\n"
     "typedef struct { char a; long b; } pair_t;\n"
     'begin { printf("%d %d %d %d\\n", sizeof(struct P), offsetof(struct P, b), '
     "sizeof(pair_t), sizeof(uint32_t)); exit(); }\n", "5 1 16 4"),
])
def test_c_preamble_of_bpftrace_tools(e2e, tmp_path, text, want):
    script = tmp_path / "t.bt"
    script.write_text(text)
    r = e2e.run_cli("-q", str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == want


def test_structs_and_records_as_map_keys(e2e):
    # a struct or record key printed whole, alone or among other keys
    r = e2e.run_prog('struct P { int a; int b; } '
                     'begin { $r = (a=1, b=2); @m[$r] = 1; @m[(a=3, b=4)] = 2; '
                     '@n[(a=5, b="x"), 6] = 3; $p = (struct P *)curtask; @s[*$p] = 4; '
                     'printf("%d %d\\n", has_key(@m, (a=1, b=2)), @m[(a=3, b=4)]); exit(); }')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1 2"
    assert lines[3:6] == ["@m[{ .a = 1, .b = 2 }]: 1", "@m[{ .a = 3, .b = 4 }]: 2",
                          "@n[{ .a = 5, .b = x }, 6]: 3"]
    assert lines[6].startswith("@s[{ .a = ") and lines[6].endswith(" }]: 4")


def test_if_used_as_a_value(e2e):
    # bpftrace 0.26's regression case, else-if chains, macros whose body is
    # an if, and a ternary or if-else of statements run for their effect
    r = e2e.run_prog('macro pick($x) { if $x > 1 { "big" } else if $x { "one" } else { "none" } } '
                     'macro say($x) { if $x { printf("yes ") } else { printf("no ") } } '
                     'begin { let $x=1; let $y=2; let $z=3; '
                     'print(if ($x) { if ($y) { if ($z) { $x } else { $y } } else { $z } } else { 0 }); '
                     '$a = 2; $b = 0; printf("%s %s %d\\n", pick($a), pick($b), '
                     'if $a == 2 { let $t = 40; $t + 2 } else { 0 }); '
                     'say($a); say($b); $b ? printf("t\\n") : printf("f\\n"); exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:3] == ["1", "big none 42", "yes no f"]


def test_enums_print_by_name(e2e):
    # bpftrace 0.26's cases: maps, keys, tuples, variables, casts, printf
    r = e2e.run_prog('enum BAZ { FOO = 333, BAR }; enum { ONE = 1, TWO = 2 }; '
                     'BEGIN { @[ONE] = 11; @k[ONE, TWO, ONE] = -1; @v = (ONE, TWO); '
                     '@n[ONE + 1] = TWO - 1; $f = FOO; print($f); print((enum BAZ)333); '
                     '$x = 444; print((enum BAZ)$x); printf("%s %d %s\\n", BAR, BAR, (enum BAZ)$x); '
                     'exit(); }')
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("FOO\nFOO\n444\nBAR 334 444\n\n\n"
                        "@[ONE]: 11\n@k[ONE, TWO, ONE]: -1\n@n[2]: 1\n@v: (ONE, TWO)\n")


def test_getopt_descriptions_and_help(e2e):
    prog = 'begin { print((getopt("aa", 10, "Description of aa"), getopt("bb", 1))); exit(); }'
    assert e2e.run_prog(prog, "--", "--aa=22", "--bb=2").stdout.splitlines()[0] == "(22, 2)"
    r = e2e.run_cli("-e", prog, "--", "--help")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == ("HINT: expected program options: --aa, --bb\n"
                        "    --aa=NUM  Description of aa (default: 10)\n"
                        "    --bb=NUM  (default: 1)\n")


def test_unreachable_statements_are_warned_about(e2e):
    # bpftrace 0.26's "exit exits immediately" case, with its warning
    prog = "BEGIN { @++; exit(); @++ }"
    r = e2e.run_cli("-q", "-e", prog)
    assert (r.returncode, r.stdout) == (0, "\n\n@: 1\n")
    assert r.stderr == ("stdin:1:22-25: WARNING: Unreachable statement.\n"
                        f"{prog}\n" + " " * 21 + "~~~\n")
    r = e2e.run_cli("-q", "--no-warnings", "-e", prog)
    assert (r.returncode, r.stderr) == (0, "")





def test_record_evaluation_order(e2e):
    # bpftrace 0.26's case: fields run as written, stored by name
    r = e2e.run_prog('begin { $a = (foo={ printf("hello"); 1 }, bar={ printf("world"); 2 }); '
                     '$a = (bar={ printf("hello"); 1 }, foo={ printf("world\\n"); 2 }); '
                     'print($a); $b = (s="longer", x=5); $c = (x=1, s="ab"); $c = $b; '
                     'print($c); exit(); }')
    assert r.stdout.splitlines()[:3] == ["helloworldhelloworld", "{ .foo = 2, .bar = 1 }",
                                         "{ .x = 5, .s = longer }"]



@pytest.mark.parametrize("prog, message, helper, under", [
    # bpftrace 0.26's runtime_error_check cases
    ('i:ms:100 { @[1] = 1; delete(@, 2); exit(); }',
     "Can't delete map element because it does not exist.",
     "helper: map_delete_elem, retcode: -2", (22, 34)),
    ('i:ms:100 { @[1] = 1; printf("%d\\n", @[2]); exit(); }',
     "Can't lookup map element because it does not exist.",
     "helper: map_lookup_elem, retcode: 0", (37, 41)),
])
def test_run_time_checks_of_helpers_with_k(e2e, prog, message, helper, under):
    r = e2e.run_cli("-q", "-k", "-e", prog)
    assert r.returncode == 0, r.stderr
    col, end = under
    assert r.stderr == (f"stdin:1:{col}-{end}: WARNING: {message}\n"
                        f"Additional Info - {helper}\n{prog}\n"
                        + " " * (col - 1) + "~" * (end - col) + "\n")
    assert e2e.run_cli("-q", "-e", prog).stderr == ""  # only with -k


def test_tracepoint_enum_fields_print_by_name(e2e, own_helper):
    # hrtimer_start's `enum hrtimer_mode mode`: the helper's nanosleep is relative
    # (other timers of the process may start first: each line names its value)
    out = traced(e2e, f'tracepoint:timer:hrtimer_start /comm == "{COMM}"/ '
                 '{ printf("%s %d\\n", args.mode, args.mode); '
                 'if (args.mode == 1) { exit(); } }', own_helper, "sleep", "10")
    lines = out.split("\n\n")[0].splitlines()
    assert lines[-1] == "HRTIMER_MODE_REL 1"
    assert all(re.fullmatch(r"HRTIMER_MODE_[A-Z_]+ \d+", x) for x in lines), lines



@pytest.mark.parametrize("struct, raw, reads, want", [
    # bpftrace 0.26's bitfield cases, on bytes of the script's own
    ("struct Foo { unsigned int a:4, b:8, c:3, d:1, e:16; }", r"\x21\x50\xff\xff",
     "a b c d e", "1 2 5 0 65535"),
    ("struct Foo { short a:4, b:8, c:3, d:1; int e:9, f:15, g:1, h:2, i:5 }",
     r"\x91\xdd\xf4\x01\x8d\xf9\x6e\x00", "a b c d e f g h i", "1 217 5 1 500 31117 1 2 27"),
])
def test_bitfields(e2e, struct, raw, reads, want):
    fields = reads.split()
    r = e2e.run_prog(f'{struct} begin {{ $s = "{raw}"; $p = (struct Foo *)&$s; '
                     f'printf("{" ".join(["%d"] * len(fields))}\\n", '
                     + ", ".join(f"$p->{f}" for f in fields) + "); exit(); }")
    assert r.stdout.splitlines()[0] == want


@pytest.mark.parametrize("prog, want", [
    pytest.param('macro cpu() { __builtin_cpu + 1000 } '
                 'begin { printf("%d %d %d %d\\n", comm() == comm, __builtin_pid == pid, '
                 'cpu >= 1000, cpu() == __builtin_cpu + 1000); exit(); }', "1 1 1 1",
                 id="builtins by 0.26's names, a macro replacing one"),
    pytest.param('begin { $t = container_of(curtask->tasks.next, struct task_struct, tasks); '
                 '$b = container_of($t->tasks.prev, struct task_struct, tasks); '
                 '$s = container_of((uint64)curtask + offsetof(struct task_struct, se.load), '
                 'struct task_struct, se.load); '
                 'printf("%d %d\\n", $b == curtask, $s->pid == curtask->pid); exit(); }', "1 1",
                 id="container_of"),
    pytest.param('begin { printf("%d %d\\n", ppid(curtask) == ppid, '
                 'ppid(curtask->real_parent) == curtask->real_parent->real_parent->pid); '
                 'exit(); }', "1 1", id="the standard library's ppid(task)"),
    pytest.param('struct S { char a; int b __attribute__((aligned(8))); } '
                 'struct T { char a; int b; } __attribute__((aligned(16))); '
                 'struct Q { char a; int __attribute__((packed)) b; } '
                 'begin { printf("%d %d %d %d %d\\n", sizeof(struct S), offsetof(struct S, b), '
                 'sizeof(struct T), sizeof(struct Q), offsetof(struct Q, b)); exit(); }',
                 "16 8 16 5 1", id="aligned and packed laid out as gcc does"),
    pytest.param('config = { unstable_addr = enable } '
                 'begin { $p = &curtask->pid; $s = "hello"; $q = &$s; $t = (1, "ab"); '
                 '$e = &curtask->cpus_mask.bits[1]; $c = &curtask->comm; '
                 'printf("%d %d %s %c %d %d %d\\n", *$p == pid, '
                 '(uint64)$p == (uint64)curtask + offsetof(struct task_struct, pid), '
                 'str($q), *($q + 1), &$t != 0, str($c) == comm, '
                 '(uint64)$e == (uint64)curtask + offsetof(struct task_struct, cpus_mask) + 8); '
                 'exit(); }', "1 1 hello e 1 1 1", id="address-of members, strings, tuples"),
])
def test_one_liners(e2e, prog, want):
    assert e2e.run_prog(prog).stdout.splitlines()[0] == want


def test_float_members_of_script_structs_print_as_null(e2e):
    # bpftrace 0.26 lays float members out and prints them as null
    prog = ('struct F { int m; float f; int z; }; '
            'begin { $s = "AAAABBBBCCCC"; print(*(struct F *)&$s); exit(); }')
    assert e2e.run_prog(prog).stdout.splitlines()[0] == \
        "{ .m = 1094795585, .f = null, .z = 1128481603 }"
    first = e2e.run_prog(prog, "-f", "json").stdout.splitlines()[0]
    assert json.loads(first) == {"type": "value",
                                 "data": {"m": 1094795585, "f": None, "z": 1128481603}}
