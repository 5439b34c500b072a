"""``for ($kv : @map)`` in the kernel: maps filled from events the test
causes with the bse2e helper, iterated in probes and in END.

Only the first test counts kernel objects (no_leaks): the count is
machine-wide, and other traces running meanwhile would make every test
that checks it flaky; the program BTF's own lifetime is checked in
tests/bpf/test_prog.py."""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def unique_path(tag: str) -> str:
    return f"/tmp/bpfscope-e2e-{tag}-{os.getpid()}-{time.monotonic_ns()}"


def test_iterate_in_end_with_tuple_keys_and_count_values(e2e, waiting, no_leaks):
    p1, p2 = unique_path("a"), unique_path("b")
    first, second = waiting("open", p1, "3"), waiting("open", p2, "5")
    t = e2e.Trace("-e", """
        tracepoint:syscalls:sys_enter_openat /pid == $1 || pid == $2/ {
            @opens[pid, str(args.filename)] = count();
        }
        tracepoint:sched:sched_process_exit /pid == $2/ { exit(); }
        END {
            $total = 0; $keys = 0;
            for ($kv : @opens) {
                $keys++;
                $total += $kv.1;
                printf("%s %s %d\\n", $kv.0.0 == $1 ? "first" : "second", $kv.0.1, $kv.1);
            }
            printf("%d keys, %d opens\\n", $keys, $total);
            clear(@opens);
        }""", str(first.pid), str(second.pid))
    assert first.go() == 0
    assert second.go() == 0
    out, err = t.finish()
    assert t.returncode == 0, err
    lines = out.splitlines()
    # a hash map's order is the kernel's: the two elements in either order
    assert sorted(lines[:2]) == [f"first {p1} 3", f"second {p2} 5"]
    assert lines[2:] == ["2 keys, 8 opens", "", ""]


def test_iterate_in_a_probe_sum_is_seen_after_the_loop_and_break(e2e, waiting):
    child = waiting("getpid", "5")
    t = e2e.Trace("-e", """
        tracepoint:syscalls:sys_enter_getppid /pid == $1/ {
            @k[@i % 3] = count();
            @i++;
            $sum = 0; $seen = 0; $last = "none";
            for ($kv : @k) { $sum += $kv.1; $last = "some"; }
            for ($kv : @k) { $seen++; break; $seen += 100; }
            printf("%d %d %s\\n", $sum, $seen, $last);
        }
        tracepoint:sched:sched_process_exit /pid == $1/ { clear(@k); delete(@i); exit(); }
        """, str(child.pid))
    assert child.go() == 0
    out, err = t.finish()
    assert t.returncode == 0, err
    # @i has no keys: deleted, it prints as zero (bpftrace 0.26)
    assert out == "1 1 some\n2 1 some\n3 1 some\n4 1 some\n5 1 some\n\n\n@i: 0\n"


def test_continue_and_string_keys_from_events(e2e, helper):
    path = unique_path("c")
    r = e2e.run_cli("-c", f"{helper} open {path} 4", "-e", """
        tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @files[str(args.filename)] = count(); }
        END {
            for ($kv : @files) {
                if ($kv.1 != 4) { continue; }
                printf("%s opened %d times\\n", $kv.0, $kv.1);
            }
            clear(@files);
        }""")
    assert r.returncode == 0, r.stderr
    # the dynamic loader's opens happen once each; only the helper's path four times
    assert r.stdout == f"{path} opened 4 times\n\n\n"


def test_nested_loops_context_and_map_updates_in_the_body(e2e):
    r = e2e.run_prog("""
        BEGIN {
            @a[1] = 10; @a[2] = 20;
            @b["x"] = 3; @b["y"] = 4;
            $prod = 0;
            for ($x : @a) {
                for ($y : @b) { $prod += $x.1 * $y.1; }
                @doubled[$x.0] = $x.1 * 2;
                @stacks[kstack] = count();
            }
            printf("%d %s\\n", $prod, comm);
            clear(@a); clear(@b); clear(@stacks);
            exit();
        }""")
    comm = os.path.basename(e2e.CLI[0])[:15]
    assert r.stdout == f"210 {comm}\n\n\n@doubled[1]: 20\n@doubled[2]: 40\n"


def test_disassembly_shows_the_callback(e2e):
    r = e2e.run_cli("--dry-run", "-d", "codegen", "-e",
                    "BEGIN { @m[1] = 2; for ($kv : @m) { print($kv.1); } }")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "main:" in lines and "for_map_1:" in lines
    assert any(ln.endswith("r2 = func[for_map_1]") for ln in lines)
    assert any(ln.endswith("call bpf_for_each_map_elem#164") for ln in lines)


@pytest.mark.parametrize("prog, message, marks", [
    ("BEGIN { @h[1] = hist(1); for ($x : @h) { } }",
     "Loop expression does not support type: hist_t", "~~"),
    ("BEGIN { @a[1] = 1; for ($x : @a) { return; } }",
     "'return' statement is not allowed in a for-loop", "~~~~~~"),
    ("BEGIN { @a = 1; for ($x : @a) { } }",
     "@a has no explicit keys (scalar map), and cannot be used for iteration", "~~"),
])
def test_refused_like_bpftrace(e2e, prog, message, marks):
    r = e2e.run_cli("-e", prog)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    head, line, underline = r.stderr.splitlines()[:3]
    assert head.startswith("stdin:1:") and head.endswith(f"ERROR: {message}")
    assert line == prog
    assert underline.strip() == marks


def test_exit_in_the_body_ends_the_probe(e2e):
    r = e2e.run_prog("""
        BEGIN {
            @m[1] = 1; @m[2] = 2; @m[3] = 3;
            $n = 0;
            for ($kv : @m) { $n++; printf("in %d\\n", $n); exit(); }
            printf("not reached\\n");
        }""")
    assert r.stdout == "in 1\n\n\n@m[1]: 1\n@m[2]: 2\n@m[3]: 3\n"


def test_range_with_a_map_bound_runs_in_a_probe_through_bpf_loop(e2e, waiting):
    # bpftrace 0.26 lowers ranges with bpf_loop: a bound read from a map
    # is no constant the verifier could follow through an inline loop
    child = waiting("getpid", "4")
    t = e2e.Trace("-e", """
        tracepoint:syscalls:sys_enter_getppid /pid == $1/ {
            @calls++;
            $s = 0; $t = "";
            for $i : 0..@calls { $s += $i; @seen[$i] = count(); if ($i == 2) { $t = comm; break; } }
            printf("%d %d %s\\n", @calls, $s, $t);
        }
        tracepoint:sched:sched_process_exit /pid == $1/ { delete(@calls); exit(); }
        """, str(child.pid))
    assert child.go() == 0
    out, err = t.finish()
    assert t.returncode == 0, err
    # count() maps print smallest value first; @calls deleted prints as 0
    assert out == ("1 0 \n2 1 \n3 3 bse2e\n4 3 bse2e\n\n\n@calls: 0\n"
                   "@seen[2]: 2\n@seen[1]: 3\n@seen[0]: 4\n")


def test_range_disassembly_shows_the_bpf_loop_callback(e2e):
    r = e2e.run_cli("--dry-run", "-d", "codegen", "-e",
                    "BEGIN { @n = 3; for ($i : 0..@n) { print($i); } }")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "for_range_1:" in lines
    assert any(ln.endswith("call bpf_loop#181") for ln in lines)


def test_ranges_through_bpf_loop_nest_with_for_map_loops(e2e):
    r = e2e.run_prog("BEGIN { @n = 3; @m[10] = 1; @m[20] = 2; $acc = 0; "
                     "for ($i : 0..@n) { for ($j : $i..@n) { $acc += 1; } "
                     "for ($kv : @m) { for ($x : 0..$kv.1) { $acc += $kv.0; } } } "
                     'printf("%d\\n", $acc); clear(@m); delete(@n); exit(); }')
    assert r.stdout.splitlines()[0] == str(6 + 3 * (10 + 40))
