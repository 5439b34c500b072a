"""Stack walks that fail for real, and the count reported at exit.

The kernel walks one stack at a time per CPU and context: bpf_get_stack
fails (-EFAULT) when a walk is already running there. A tracepoint program
on sched_switch takes kstack, so the kernel runs perf_callchain_kernel; an
fentry program on that function runs in the middle of the walk and takes
kstack too: every one of its walks fails. Each failure is an empty stack,
counted at its place in the script (ustack/kstack's drop site) and
reported once at exit: as many as the fentry program ran. Needs fentry
(the host has none)."""

from __future__ import annotations

import json
import re

import pytest

from guestlib import SMALL_HASH_KEYS

pytestmark = pytest.mark.vmlane

# Before 5.11 a full kstack (127 frames) is too big a map key: 60 frames fit.
STACK = "kstack(60)" if SMALL_HASH_KEYS else "kstack"
PROG = ("tracepoint:sched:sched_switch { @k[kstack(1)] = count(); } "
        f"fentry:perf_callchain_kernel {{ @n = count(); @f[{STACK}] = count(); }} "
        "interval:ms:400 { exit(); }")
COL = PROG.index(STACK + "]") + 1


def test_failed_stack_walks_are_counted_in_text(cli):
    r = cli("-e", PROG)
    assert r.returncode == 0, r.stderr
    n = int(re.search(r"^@n: (\d+)$", r.stdout, re.M).group(1))
    assert n > 0
    # every walk failed: one empty stack holds them all
    assert re.findall(r"^@f\[(.*?)\]: (\d+)$", r.stdout, re.S | re.M) == [("\n", str(n))]
    assert (f"stdin:1:{COL}-{COL + len(STACK)}: WARNING: kstack: {n} stacks could not be read "
            "(bpf_get_stack failed) and were counted as empty stacks\n") in r.stderr


def test_failed_stack_walks_json_record(cli):
    r = cli("-f", "json", "-e", PROG)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines() if line]
    n = next(x["data"]["@n"] for x in records if x["type"] == "map" and "@n" in x["data"])
    errors = [x for x in records if x["type"] == "stack_errors"]
    assert errors == [{"type": "stack_errors", "count": n, "data": {
        "stack": "kstack", "stacks": n, "filename": "stdin", "line": 1, "col": COL}}]
