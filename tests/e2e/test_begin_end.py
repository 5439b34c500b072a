"""BEGIN/END programs run for real through the CLI: printf, maps printed at
exit in bpftrace's layout, print(), map operations, the language's
integer semantics and control flow, builtins and positional parameters."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

BAR = "|" + " " * 52 + "|"


def bar(n: int) -> str:
    return "|" + ("@" * n).ljust(52) + "|"


def test_hello_and_attached_message(e2e):
    r = e2e.run_cli("-e", 'BEGIN { printf("hi\\n"); exit(); }')
    assert r.returncode == 0
    assert r.stdout == "hi\n\n\n"
    assert r.stderr == "Attached 1 probe\n"


def test_attached_counts_begin_and_end(e2e):
    r = e2e.run_cli("-e", 'BEGIN { exit(); } END { printf("bye\\n"); }')
    assert r.returncode == 0
    assert r.stderr == "Attached 2 probes\n"
    assert r.stdout == "bye\n\n\n"


def test_printf_formats_and_widths(e2e):
    prog = r'''BEGIN {
        printf("[%d] [%5d] [%-5d] [%05d] [%x] [%X] [%o] [%c]\n", -42, 42, 42, 42, 255, 255, 8, 65);
        printf("[%s] [%8s] [%-8s] [%%] [%u]\n", "abc", "abc", "abc", 7);
        printf("[%ld] [%lu] [%lx] [%llu]\n", -5000000000, 5000000000, 0x123456789, 18446744073709551615);
        printf("no newline");
        printf(" then one\n");
        exit();
    }'''
    r = e2e.run_prog(prog)
    assert r.stdout == (
        "[-42] [   42] [42   ] [00042] [ff] [FF] [10] [A]\n"
        "[abc] [     abc] [abc     ] [%] [7]\n"
        "[-5000000000] [5000000000] [123456789] [18446744073709551615]\n"
        "no newline then one\n\n\n")


def test_exit_stops_the_program_and_runs_end(e2e):
    # Nothing after exit() in BEGIN's output order matters less than: END
    # runs once, interval probes do not keep the trace alive.
    r = e2e.run_prog('BEGIN { printf("a\\n"); exit(); } interval:s:10 { printf("never\\n"); } '
                     'END { printf("end\\n"); }')
    assert r.stdout == "a\nend\n\n\n"


def test_aggregations_printed_at_exit(e2e):
    r = e2e.run_prog(
        'BEGIN { @c = count(); @c = count(); @s = sum(5); @s = sum(-2); @a = avg(4); @a = avg(7); '
        '@mn = min(3); @mn = min(-8); @mx = max(9); @mx = max(2); @st = stats(3); @st = stats(10); '
        'exit(); }')
    assert r.stdout == ("\n\n"
                        "@a: 5\n"
                        "@c: 2\n"
                        "@mn: -8\n"
                        "@mx: 9\n"
                        "@s: 3\n"
                        "@st: { .count = 2, .average = 6, .total = 13 }\n")


def test_hist_exact_bars(e2e):
    r = e2e.run_prog(
        'BEGIN { @h = hist(0); @h = hist(1); @h = hist(1); @h = hist(2); @h = hist(3); '
        '@h = hist(1024); @h = hist(-1); exit(); }')
    rows = [("(..., 0)", 1, 26), ("[0]", 1, 26), ("[1]", 2, 52), ("[2, 4)", 2, 52)]
    for label in ("[4, 8)", "[8, 16)", "[16, 32)", "[32, 64)", "[64, 128)", "[128, 256)",
                  "[256, 512)", "[512, 1K)"):
        rows.append((label, 0, 0))
    rows.append(("[1K, 2K)", 1, 26))
    body = "".join(f"{label:<16}{n:>8} {bar(w)}\n" for label, n, w in rows)
    assert r.stdout == "\n\n@h:\n" + body + "\n"
    assert "[512, 1K)              0 " + BAR + "\n" in r.stdout


def test_hist_from_unrolled_loop(e2e):
    # 2^0 .. 2^5, each once; plus 4 values in [4, 8)
    r = e2e.run_prog('BEGIN { $i = 1; unroll(6) { @h = hist($i); $i = $i * 2; } '
                     '@h = hist(5); @h = hist(6); @h = hist(7); exit(); }')
    assert r.stdout == (
        "\n\n@h:\n"
        f"[1]                    1 {bar(13)}\n"
        f"[2, 4)                 1 {bar(13)}\n"
        f"[4, 8)                 4 {bar(52)}\n"
        f"[8, 16)                1 {bar(13)}\n"
        f"[16, 32)               1 {bar(13)}\n"
        f"[32, 64)               1 {bar(13)}\n"
        "\n")


def test_lhist_exact_bars(e2e):
    r = e2e.run_prog(
        'BEGIN { @l = lhist(-1, 0, 10, 2); @l = lhist(4, 0, 10, 2); @l = lhist(5, 0, 10, 2); '
        '@l = lhist(10, 0, 10, 2); @l = lhist(100, 0, 10, 2); exit(); }')
    assert r.stdout == (
        "\n\n@l:\n"
        f"(..., 0)               1 {bar(26)}\n"
        f"[0, 2)                 0 {BAR}\n"
        f"[2, 4)                 0 {BAR}\n"
        f"[4, 6)                 2 {bar(52)}\n"
        f"[6, 8)                 0 {BAR}\n"
        f"[8, 10)                0 {BAR}\n"
        f"[10, ...)              2 {bar(52)}\n"
        "\n")


def test_lhist_from_while_loop(e2e):
    r = e2e.run_prog('BEGIN { $i = 0; while ($i < 10) { @l = lhist($i, 0, 10, 3); $i++; } exit(); }')
    assert r.stdout == (
        "\n\n@l:\n"
        f"[0, 3)                 3 {bar(52)}\n"
        f"[3, 6)                 3 {bar(52)}\n"
        f"[6, 9)                 3 {bar(52)}\n"
        f"[9, ...)               1 {bar(17)}\n"
        "\n")


def test_multi_key_string_key_and_tuple_values(e2e):
    r = e2e.run_prog(
        'BEGIN { @m["b", 2] = 1; @m["a", 10] = 2; @m["a", 9] = 3; @s["zz"] = sum(4); '
        '@s["aa"] = sum(1); @t = (1, "x", -3); @tk[(1, 2)] = 5; exit(); }')
    assert r.stdout == ("\n\n"
                        "@m[b, 2]: 1\n"
                        "@m[a, 10]: 2\n"
                        "@m[a, 9]: 3\n"
                        "@s[aa]: 1\n"
                        "@s[zz]: 4\n"
                        "@t: (1, x, -3)\n"
                        "@tk[1, 2]: 5\n")


def test_print_map_with_top_and_div(e2e):
    r = e2e.run_prog('BEGIN { @m[1] = 10; @m[2] = 20; @m[3] = 30; print(@m, 2, 10); '
                     'printf("--\\n"); print(@m); clear(@m); exit(); }')
    assert r.stdout == ("@m[2]: 2\n@m[3]: 3\n--\n"
                        "@m[1]: 10\n@m[2]: 20\n@m[3]: 30\n\n\n")


def test_clear_zero_delete(e2e):
    r = e2e.run_prog(
        'BEGIN { @c["a"] = 1; @c["b"] = 2; delete(@c["a"]); print(@c); '
        '@z[1] = count(); @z[1] = count(); zero(@z); print(@z); '
        '@gone[1] = 1; @gone[2] = 2; clear(@gone); '
        '@h = hist(3); zero(@h); exit(); }')
    # zero() keeps the keys with value 0; clear() removes every key, so
    # @gone is not printed at exit; @h has no keys: as 0.26, its one
    # (now empty) histogram is printed
    assert r.stdout == ("@c[b]: 2\n@z[1]: 0\n\n\n"
                        "@c[b]: 2\n"
                        "@h:\n\n"
                        "@z[1]: 0\n")


def test_time_format(e2e):
    r = e2e.run_prog('BEGIN { time("%H:%M:%S\\n"); time(); printf("x\\n"); exit(); }')
    lines = r.stdout.split("\n")
    assert re.fullmatch(r"\d\d:\d\d:\d\d", lines[0]), r.stdout
    # bpftrace's default format is "%H:%M:%S\n".
    assert re.fullmatch(r"\d\d:\d\d:\d\d", lines[1]), r.stdout
    assert lines[2] == "x"


def test_signed_integer_arithmetic(e2e):
    r = e2e.run_prog(
        'BEGIN { $n = -7; $t = 2; '
        'printf("%ld %ld %ld %d %d %d\\n", $n / $t, $n % $t, $n >> 1, $n < $t, $n > -8, -1 < 0); '
        'exit(); }')
    assert r.stdout == "-3 -1 -4 1 1 1\n\n\n"


def test_unsigned_arithmetic_and_wrap(e2e):
    r = e2e.run_prog(
        'BEGIN { $a = (uint64)-1; $x = 0x7fffffffffffffff; $x = $x + 1; $m = 1; '
        '$u = (uint64)0; $u = $u - 1; '
        'printf("%lu %lu %ld %ld %lu %lu %ld\\n", $a / 2, (uint64)-7 >> 60, $x, $m << 40, $u, '
        '$a + 2, 5000000000 * 3); exit(); }')
    assert r.stdout == ("9223372036854775807 15 -9223372036854775808 1099511627776 "
                        "18446744073709551615 1 15000000000\n\n\n")


def test_operators_and_precedence(e2e):
    r = e2e.run_prog(
        'BEGIN { printf("%d %d %d %d %d %d %d %d\\n", 2 + 3 * 4, (2 + 3) * 4, 17 % 5, 6 & 3, '
        '6 | 3, 6 ^ 3, !0, 1 && 0 || 1); exit(); }')
    assert r.stdout == "14 20 2 2 7 5 1 1\n\n\n"


def test_ternary_if_else_while(e2e):
    r = e2e.run_prog(r'''BEGIN {
        $v = 3;
        printf("%s %d\n", $v > 2 ? "big" : "small", $v == 3 ? 10 : 20);
        if ($v < 2) { printf("lt2\n"); } else if ($v < 4) { printf("lt4\n"); } else { printf("ge4\n"); }
        $i = 0; $sum = 0;
        while ($i < 100) { $sum += $i; $i++; }
        printf("%d %d\n", $i, $sum);
        exit();
    }''')
    assert r.stdout == "big 10\nlt4\n100 4950\n\n\n"


def test_comm_string_comparison(e2e):
    # BEGIN runs in the bpfscope process itself (comm: python*).
    r = e2e.run_prog('BEGIN { if (comm == "no_such_comm") { printf("wrong\\n"); } '
                     'if (comm != "no_such_comm") { printf("ok\\n"); } '
                     '$s = "abc"; printf("%d %d\\n", $s == "abc", $s == "abd"); exit(); }')
    assert r.stdout == "ok\n1 0\n\n\n"


def test_builtins_in_begin(e2e):
    import os
    r = e2e.run_prog('BEGIN { printf("%s|%d|%d|%d|%d\\n", probe, pid == tid, uid, gid, '
                     'elapsed < 10000000000); printf("%s\\n", comm); exit(); }')
    lines = r.stdout.split("\n")
    assert lines[0] == f"begin|1|{os.geteuid()}|{os.getegid()}|1"
    assert lines[1].startswith("python")


def test_probe_builtin_in_end_and_map_key(e2e):
    r = e2e.run_prog('BEGIN { @[probe] = count(); @[probe] = count(); exit(); } '
                     'END { @[probe] = count(); }')
    assert r.stdout == "\n\n@[end]: 1\n@[begin]: 2\n"


def test_positional_parameters(e2e):
    r = e2e.run_prog('BEGIN { printf("%d %d %d\\n", $1 + 1, $2 * 2, $#); exit(); }', "41", "21")
    assert r.stdout == "42 42 2\n\n\n"


def test_positional_parameter_missing_is_zero(e2e):
    r = e2e.run_prog('BEGIN { printf("%d %d\\n", $3, $#); exit(); }', "1")
    assert r.stdout == "0 1\n\n\n"


def test_positional_parameter_as_string(e2e):
    r = e2e.run_prog('BEGIN { printf("<%s> <%s> %d\\n", str($1), str($2), $#); exit(); }', "foo", "bar")
    assert r.stdout == "<foo> <bar> 2\n\n\n"


def test_numeric_positional_parameter_as_string(e2e):
    r = e2e.run_prog('BEGIN { printf("<%s>\\n", str($1)); exit(); }', "42")
    assert r.stdout == "<42>\n\n\n"


def test_scratch_and_map_string_values(e2e):
    r = e2e.run_prog('BEGIN { $s = "hello"; @v = $s; @k[$s] = 1; printf("%s!\\n", $s); exit(); }')
    assert r.stdout == "hello!\n\n\n@k[hello]: 1\n@v: hello\n"


def test_maps_sorted_by_value_at_exit(e2e):
    r = e2e.run_prog('BEGIN { @x[3] = count(); @x[1] = count(); @x[1] = count(); @x[1] = count(); '
                     '@x[2] = count(); @x[2] = count(); exit(); }')
    assert r.stdout == "\n\n@x[3]: 1\n@x[2]: 2\n@x[1]: 3\n"


def test_script_file_and_stdin(e2e, tmp_path):
    f = tmp_path / "prog.bt"
    f.write_text('BEGIN {\n  printf("from file %d\\n", $1);\n  exit();\n}\n')
    r = e2e.run_cli("-q", str(f), "7")
    assert (r.returncode, r.stdout) == (0, "from file 7\n\n\n")
    r = e2e.run_cli("-q", "-", input='BEGIN { printf("from stdin\\n"); exit(); }')
    assert (r.returncode, r.stdout) == (0, "from stdin\n\n\n")


def test_begin_and_end_alone_end_the_run_by_themselves(e2e):
    # bpftrace 0.26: with nothing attached, nothing is left to wait for
    # once BEGIN has run; END runs and the maps print, without exit()
    r = e2e.run_prog('begin { @a[1] = 2; printf("b\\n"); } end { printf("e\\n"); }', timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b\ne\n\n\n@a[1]: 2\n"


def test_a_probe_besides_begin_keeps_the_run_going(e2e):
    # interval:s:1 is attached: the run lasts until its exit(), a second on
    r = e2e.run_prog('begin { printf("b\\n"); } interval:s:1 { printf("i\\n"); exit(); }',
                     timeout=20)
    assert r.stdout == "b\ni\n\n\n"
