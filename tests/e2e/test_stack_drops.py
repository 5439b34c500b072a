"""Stacks are never merged or lost, and every drop is counted and shown.

The traced program is tests/e2e/progs/stackpaths.c, built here: it walks
call paths chosen by the bits of a number, so the test knows exactly how
many distinct user stacks reach leaf() and how often. Every check is an
exact total: distinct stacks, calls per stack, events with and without a
stack, printed plus lost records, keys of a full map, strings cut.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

PROG = Path(__file__).parent / "progs" / "stackpaths.c"
ENTRY = re.compile(r"^(@\w*)\[(.*?)\]: (\d+)$", re.S | re.M)


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> str:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build the stack paths program")
    out = tmp_path_factory.mktemp("stackpaths") / "stackpaths"
    subprocess.run([gcc, "-O0", "-fno-omit-frame-pointer", "-o", str(out), str(PROG)],
                   check=True, capture_output=True)
    return str(out)


def entries(text: str, name: str = "@") -> list[tuple[str, int]]:
    """(key text, value) of every entry of map ``name`` in text output."""
    return [(k, int(v)) for m, k, v in ENTRY.findall(text) if m == name]


def records(stdout: str, kind: str) -> list[dict]:
    return [r for r in map(json.loads, stdout.splitlines()) if r["type"] == kind]


def test_2048_distinct_user_stacks_are_2048_entries_in_every_output(e2e, paths, tmp_path):
    folded, svg = tmp_path / "s.folded", tmp_path / "s.svg"
    prog = f"uprobe:{paths}:leaf {{ @[ustack] = count(); }}"
    r = e2e.run_prog(prog, "--folded", str(folded), "--flamegraph", str(svg),
                     "-c", f"{paths} tree 11 2", timeout=60)
    got = entries(r.stdout)
    assert len(got) == 2048 and {v for _, v in got} == {2}
    assert all("leaf+0" in k and "walk" in k for k, _ in got)  # no empty stack
    assert len({k for k, _ in got}) == 2048
    lines = folded.read_text().splitlines()
    assert len(lines) == 2048 and sum(int(x.rsplit(" ", 1)[1]) for x in lines) == 4096
    assert 'total="4096"' in svg.read_text()
    j = e2e.run_prog(prog, "-f", "json", "-c", f"{paths} tree 11 1", timeout=60)
    (m,) = records(j.stdout, "map")
    assert len(m["data"]["@"]) == 2048 and set(m["data"]["@"].values()) == {1}


def test_truncated_user_stacks_add_up(e2e, paths):
    # 150 calls over 16 paths that agree in their first frames
    r = e2e.run_prog(f"uprobe:{paths}:leaf {{ @[ustack(2)] = count(); @f[ustack] = count(); }}",
                     "-c", f"{paths} mod 4 150", timeout=60)
    (two, n), = entries(r.stdout)
    assert n == 150 and len(two.strip().splitlines()) == 2
    full = entries(r.stdout, "@f")
    assert sorted(v for _, v in full) == [9] * 10 + [10] * 6  # 150 = 16 * 9 + 6


def test_kernel_stack_totals_equal_the_events(e2e):
    r = e2e.run_prog("tracepoint:sched:sched_switch { @two[kstack(2)] = count(); "
                     "@all[kstack] = count(); @n = count(); } interval:ms:500 { exit(); }",
                     timeout=60)
    n = int(re.search(r"^@n: (\d+)$", r.stdout, re.M).group(1))
    two, full = entries(r.stdout, "@two"), entries(r.stdout, "@all")
    assert n > 0
    assert sum(v for _, v in two) == n and sum(v for _, v in full) == n
    assert all(len(k.strip().splitlines()) <= 2 for k, _ in two)
    assert len(two) <= len(full)


def test_lost_records_are_counted_exactly(e2e, paths):
    calls = 20000
    prog = ("config = { perf_rb_pages = 1 } uprobe:%s:named "
            '{ printf("%%s a line long enough to fill a small ring buffer fast\\n", str(arg0)); }'
            % paths)
    r = e2e.run_prog(prog, "-c", f"{paths} strs {calls} 8", timeout=90)
    lost = sum(int(x) for x in re.findall(r"^Lost (\d+) events$", r.stderr, re.M))
    assert lost > 0, r.stderr
    assert r.stdout.count("a line long enough") + lost == calls
    j = e2e.run_prog(prog, "-f", "json", "-c", f"{paths} strs {calls} 8", timeout=90)
    jlost = sum(x["data"]["events"] for x in records(j.stdout, "lost_events"))
    assert jlost > 0 and len(records(j.stdout, "printf")) + jlost == calls


FULL = "config = { max_map_keys = 4 } BEGIN { $i = 0; while ($i < 10) { @[$i] = 1; $i++; } exit(); }"


def test_a_full_map_is_reported_once_at_its_place(e2e):
    r = e2e.run_prog(FULL)
    assert len(entries(r.stdout)) == 4
    assert r.stderr.count("WARNING: Map full; can't update element") == 1
    assert "stdin:1:65-70: WARNING: Map full" in r.stderr
    j = e2e.run_prog(FULL, "-f", "json")
    err, = records(j.stdout, "helper_error")
    assert err == {"type": "helper_error", "msg": "Argument list too long",
                   "helper": "map_update_elem", "retcode": -7,
                   "filename": "stdin", "line": 1, "col": 65}
    assert len(records(j.stdout, "map")[0]["data"]["@"]) == 4


CUT = ("config = { max_strlen = 16 } uprobe:%s:named "
       "{ @[str(arg0)] = count(); @n = count(); }")


@pytest.mark.parametrize("length, cut", [(15, 0), (16, 3), (40, 3)])
def test_strings_cut_at_max_strlen_are_counted(e2e, paths, length, cut):
    r = e2e.run_prog(CUT % paths, "-c", f"{paths} strs 3 {length}")
    warn = re.findall(r"^stdin:1:(\d+)-\d+: WARNING: str\(\): (\d+) strings were cut at "
                      r"max_strlen \(16 bytes\)", r.stderr, re.M)
    col = (CUT % paths).index("str(") + 1
    assert warn == ([(str(col), str(cut))] if cut else []), r.stderr
    j = e2e.run_prog(CUT % paths, "-f", "json", "-c", f"{paths} strs 3 {length}")
    got = records(j.stdout, "truncated_strings")
    assert [(x["count"], x["data"]["strings"], x["data"]["max_strlen"], x["data"]["function"])
            for x in got] == ([(cut, cut, 16, "str")] if cut else [])


def test_counters_do_not_leak_objects(e2e, paths, no_leaks):
    e2e.run_prog(CUT % paths + f" uprobe:{paths}:leaf {{ @s[ustack(3)] = count(); }}",
                 "-c", f"{paths} strs 2 40")



def cuts(e2e, prog: str, *args: str) -> tuple[list, list]:
    """The cut-string warnings of a run, as (col, what, count, noun), and
    the truncated_strings records of the same run with -f json, as
    (col, function, count)."""
    r = e2e.run_prog(prog, *args)
    warn = [(int(c), w, int(n), noun) for c, w, n, noun in re.findall(
        r"^stdin:1:(\d+)-\d+: WARNING: (\S+): (\d+) (strings|buffers) were cut at "
        r"max_strlen \(16 bytes\)", r.stderr, re.M)]
    j = records(e2e.run_prog(prog, "-f", "json", *args).stdout, "truncated_strings")
    assert all(x["data"]["max_strlen"] == 16 and x["data"]["strings"] == x["count"] for x in j)
    return warn, [(x["data"]["col"], x["data"]["function"], x["count"]) for x in j]


@pytest.mark.parametrize("expr, length, cut", [
    # buf() copies bytes, not a string: asking for more than max_strlen cuts
    # every value, whatever the string (a fixed length, or one computed as
    # the probe runs)
    ("buf(arg0, 40)", 5, 3), ("buf(arg0, $n)", 5, 3), ("buf(arg0, $m)", 5, 0),
    # str(p, $n): $n above max_strlen is cut to it (as SSL_write's length
    # often is); a smaller $n is the script's own choice
    ("str(arg0, $n)", 15, 0), ("str(arg0, $n)", 40, 3), ("str(arg0, $m)", 40, 0),
])
def test_reads_with_a_length_cut_at_max_strlen_are_counted(e2e, paths, expr, length, cut):
    prog = ("config = { max_strlen = 16 } uprobe:%s:named "
            "{ $n = 100; $m = 8; @[%s] = count(); }" % (paths, expr))
    col = prog.index(expr) + 1
    what = expr[:3]
    noun = "buffers" if what == "buf" else "strings"
    warn, recs = cuts(e2e, prog, "-c", f"{paths} strs 3 {length}")
    assert warn == ([(col, f"{what}()", cut, noun)] if cut else [])
    assert recs == ([(col, what, cut)] if cut else [])


@pytest.fixture
def short_dir():
    """/tmp/XXXXXXXX: 13 bytes, so a program in it has a path of known length."""
    d = tempfile.mkdtemp(dir="/tmp", prefix="")
    yield d
    shutil.rmtree(d)


@pytest.mark.parametrize("name, cut", [("t", 0), ("tt", 1), ("a_long_name", 1)])
def test_tracepoint_strings_cut_at_max_strlen_are_counted(e2e, short_dir, name, cut):
    # sched_process_exec's filename is a __data_loc string: the path of the
    # -c program, whole up to 15 bytes with max_strlen 16 (/tmp/XXXXXXXX/t)
    prog = f"{short_dir}/{name}"
    shutil.copy("/bin/true", prog)
    script = ("config = { max_strlen = 16 } tracepoint:sched:sched_process_exec "
              "/pid == cpid/ { @[args.filename] = count(); }")
    col = script.index("args.filename") + 1
    warn, recs = cuts(e2e, script, "-c", str(prog))
    assert warn == ([(col, "args.filename", cut, "strings")] if cut else [])
    assert recs == ([(col, "args.filename", cut)] if cut else [])


def test_join_strings_cut_at_max_strlen_are_counted(e2e, tmp_path):
    prog = tmp_path / "a_program_with_a_long_name"
    shutil.copy("/bin/true", prog)
    script = ("config = { max_strlen = 16 } tracepoint:syscalls:sys_enter_execve "
              "/pid == cpid/ { join(args.argv); }")
    col = script.index("join(") + 1
    # argv: the long path and "x" * 20 are cut, "short" is whole
    warn, recs = cuts(e2e, script, "-c", f"{prog} {'x' * 20} short")
    assert warn == [(col, "join()", 2, "strings")]
    assert recs == [(col, "join", 2)]


@pytest.mark.parametrize("second, cut", [("abcdefgh", 0), ("abcdefghi", 1)])
def test_concatenations_cut_at_max_strlen_are_counted(e2e, second, cut):
    # 7 + 8 bytes fit in max_strlen 16 with the NUL; 7 + 9 do not
    prog = ('config = { max_strlen = 16 } begin { $a = "0123456"; $b = "%s"; '
            "print(str_concat($a, $b)); exit(); }" % second)
    col = prog.index("str_concat(") + 1
    warn, recs = cuts(e2e, prog)
    assert warn == ([(col, "str_concat()", cut, "strings")] if cut else [])
    assert recs == ([(col, "str_concat", cut)] if cut else [])

