"""Output as bpftrace 0.26 writes it (issue 12 point 6), text and JSON:
maps without keys always print (zero when empty), print(@h, top) of
histograms, join with a delimiter, enums (numbers in JSON: 0.26 writes no
symbolic values there), errorf/warnf records and cat() errors."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

EMPTY = ('BEGIN { if (0) { @a = 1; @c = count(); @s = stats(1); @t = (1, "x"); '
         '@r = (n=1, s="x"); @m = avg(1); } exit(); }')


def test_empty_keyless_maps_print_zero(e2e):
    r = e2e.run_prog(EMPTY)
    assert r.stdout == ("\n\n@a: 0\n@c: 0\n@m: 0\n@r: { .n = 0, .s =  }\n"
                        "@s: { .count = 0, .average = 0, .total = 0 }\n@t: (0, )\n")


def test_empty_keyless_maps_in_json(e2e):
    r = e2e.run_prog(EMPTY, "-f", "json")
    assert r.stdout.splitlines() == [
        '{"type": "map", "data": {"@a": 0}}',
        '{"type": "map", "data": {"@c": 0}}',
        '{"type": "stats", "data": {"@m": 0}}',
        '{"type": "map", "data": {"@r": {"n": 0, "s": ""}}}',
        '{"type": "stats", "data": {"@s": {"count": 0, "average": 0, "total": 0}}}',
        '{"type": "map", "data": {"@t": [0,""]}}']


def test_deleted_and_zeroed_keyless_maps(e2e):
    r = e2e.run_prog('BEGIN { @x = 5; delete(@x); @hist = hist(2); zero(@hist); '
                     '@k[1] = 1; delete(@k, 1); exit(); }', "-f", "json")
    # a keyed map left empty prints nothing
    assert r.stdout.splitlines() == ['{"type": "hist", "data": {"@hist": []}}',
                                     '{"type": "map", "data": {"@x": 0}}']


HISTS = 'BEGIN { @[1] = hist(10); @[2] = hist(20); @[3] = hist(30); print(@, TOP); clear(@); exit(); }'


def test_print_top_of_histograms(e2e):
    # bpftrace 0.26's print_hist_with_top_arg, print_hist_with_large_top_arg
    r = e2e.run_prog(HISTS.replace("TOP", "2"), "-f", "json")
    assert r.stdout == ('{"type": "hist", "data": {"@": {"2": [{"min": 16, "max": 31, "count": 1}]'
                        ', "3": [{"min": 16, "max": 31, "count": 1}]}}}\n')
    r = e2e.run_prog(HISTS.replace("TOP", "10"), "-f", "json")
    assert list(json.loads(r.stdout)["data"]["@"]) == ["1", "2", "3"]
    r = e2e.run_prog(HISTS.replace("TOP", "2"))
    bar = "@" * 52
    assert r.stdout == (f"@[2]:\n[16, 32)               1 |{bar}|\n\n"
                        f"@[3]:\n[16, 32)               1 |{bar}|\n\n\n\n")


def test_print_top_of_averages(e2e):
    r = e2e.run_prog('BEGIN { @["a"] = avg(10); @["b"] = avg(20); @["c"] = avg(30); '
                     '@["d"] = avg(40); print(@, 2, 10); clear(@); exit(); }', "-f", "json")
    assert r.stdout == '{"type": "stats", "data": {"@": {"c": 3, "d": 4}}}\n'


def test_join_with_a_delimiter_in_json(e2e):
    r = e2e.run_cli("-q", "-f", "json", "-e",
                    'tracepoint:syscalls:sys_enter_execve /pid == cpid/ { join(args.argv, ","); }',
                    "-c", "/bin/echo A B")
    assert r.returncode == 0, r.stderr
    assert '{"type": "join", "data": "/bin/echo,A,B"}' in r.stdout.splitlines()


def test_enums_are_numbers_in_json(e2e):
    r = e2e.run_prog('BEGIN { print((enum pid_type)1); @p = (enum pid_type)2; exit(); }',
                     "-f", "json")
    assert r.stdout.splitlines() == ['{"type": "value", "data": 1}',
                                     '{"type": "map", "data": {"@p": 2}}']


def test_errorf_and_warnf_records(e2e):
    r = e2e.run_prog('BEGIN { errorf("bad %d", 1); warnf("hmm %s", "x"); exit(); }',
                     "-f", "json")
    assert r.stdout.splitlines() == [
        '{"type": "errorf", "msg": "bad 1", "filename": "stdin", "line": 1, "col": 9}',
        '{"type": "warnf", "msg": "hmm x", "filename": "stdin", "line": 1, "col": 30}']


def test_cat_of_a_missing_file(e2e, tmp_path):
    missing = tmp_path / "nope"
    prog = f'BEGIN {{ cat("{missing}"); printf("after\\n"); exit(); }}'
    message = f"ERROR: failed to open file '{missing}' (No such file or directory)\n"
    r = e2e.run_prog(prog)
    assert (r.stdout, r.stderr) == ("after\n\n\n", message)
    r = e2e.run_prog(prog, "-f", "json")
    assert r.stdout.splitlines() == ['{"type": "cat", "data": ""}',
                                     '{"type": "printf", "data": "after\\n"}']
    assert r.stderr == message


def test_warnings_stay_off_stdout_in_json(e2e):
    # bpftrace 0.26 writes no JSON record for a warning on stdout: stdout
    # keeps only its records (its json-output test 'warning_stderr'); the
    # warning is a record on stderr
    prog = ('config = { missing_probes = "warn" } tracepoint:nosuch:x, BEGIN { @a = 1; '
            'exit(); }')
    r = e2e.run_prog(prog, "-f", "json")
    assert r.stdout == '{"type": "map", "data": {"@a": 1}}\n'
    assert [json.loads(x) for x in r.stderr.splitlines()] == [
        {"type": "warning", "msg": "tracepoint not found: nosuch:x, skipping probe.",
         "filename": "stdin", "line": 1, "col": 38}]
