"""Maps keyed by stacks hold stack ids (codegen.stackids): every event is
counted under its own stack, whether its stack got an id or went to the
map of copies, and -v tells how many went there and how many of those
were lost.

The events are the test's own: getppid calls of the bse2e helper and
calls of leaf() in tests/e2e/progs/stackpaths.c, whose paths the test
chooses, so the distinct stacks and the calls per stack are known. With
``max_map_keys = 1`` the stack-trace map has one bucket: the first stack
takes it, every other stack gets -EEXIST, so which events go the slow
way is known exactly too.
"""

from __future__ import annotations

import re
import subprocess

import pytest

import bpfscope

# the stack paths program and the readers of a run's output are the
# stack drop tests' (stackpaths.c built -O0 with frame pointers)
from .test_stack_drops import entries, paths, records  # noqa: F401 - paths is a fixture

pytestmark = pytest.mark.usefixtures("kernel")

COPIES = re.compile(r"^stdin:1:(\d+)-\d+: (@\w*): (\d+) events' stacks got no stack id .*"
                    r"went to a map of copies \((?:none lost|(\d+) kept, (\d+) lost: that map "
                    r"is full)\)", re.M)


def copies(stderr: str) -> list[tuple[int, str, int, int]]:
    """(column, map, events sent to the copies, of those lost) per -v line."""
    return [(int(c), m, int(n), int(lost or 0)) for c, m, n, _, lost in COPIES.findall(stderr)]


def test_kernel_and_user_stacks_count_the_workloads_syscalls(e2e, helper):
    n = 3000
    r = e2e.run_prog("tracepoint:syscalls:sys_enter_getppid /pid == cpid/ "
                     "{ @k[kstack] = count(); @ku[ustack, kstack(4)] = count(); }",
                     "-c", f"{helper} getpid {n}")
    k, ku = entries(r.stdout, "@k"), entries(r.stdout, "@ku")
    assert k and sum(v for _, v in k) == n
    assert all("do_syscall_64" in key and "entry_SYSCALL" in key for key, _ in k)
    assert ku and sum(v for _, v in ku) == n
    # four kernel frames after the user stack's, ", " between the two
    assert all(len(key.split(",")[-1].strip().splitlines()) == 4 for key, _ in ku)


def test_each_user_stack_counts_its_own_calls(e2e, paths):
    # 64 paths, 3 calls each; a uprobe's kstack is empty (-EFAULT: an id
    # of the empty stack, not a fallback)
    r = e2e.run_prog(f"uprobe:{paths}:leaf {{ @[ustack] = count(); @ku[kstack, ustack] = count(); }}",
                     "-v", "-c", f"{paths} tree 6 3", timeout=60)
    for name in ("@", "@ku"):
        got = entries(r.stdout, name)
        assert len(got) == 64 and {v for _, v in got} == {3}, name
        assert len({k for k, _ in got}) == 64
        assert all("leaf+0" in k and "walk" in k for k, _ in got)
    assert all(lost == 0 for *_, lost in copies(r.stderr))


def test_a_stack_without_an_id_is_counted_in_the_copies(e2e, paths, tmp_path):
    # one bucket: path 0 takes it, path 1's 5 calls go to the copies
    folded = tmp_path / "s.folded"
    prog = (f"config = {{ max_map_keys = 1 }} uprobe:{paths}:leaf "
            "{ @[ustack] = count(); }")
    r = e2e.run_prog(prog, "-v", "--folded", str(folded), "-c", f"{paths} mod 1 10")
    got = entries(r.stdout)
    assert len(got) == 2 and [v for _, v in got] == [5, 5] and got[0][0] != got[1][0]
    assert all("leaf+0" in k and "walk" in k for k, _ in got)
    assert copies(r.stderr) == [(prog.index("@[") + 1, "@", 5, 0)]
    assert "Map full" not in r.stderr
    lines = folded.read_text().splitlines()
    assert sorted(int(x.rsplit(" ", 1)[1]) for x in lines) == [5, 5]
    # the same merged map, and the count, in JSON
    j = e2e.run_prog(prog, "-v", "-f", "json", "-c", f"{paths} mod 1 10")
    (m,) = records(j.stdout, "map")
    assert sorted(m["data"]["@"].values()) == [5, 5]
    (c,) = records(j.stdout, "stack_copies")
    assert (c["count"], c["data"]["map"], c["data"]["events"], c["data"]["lost"]) == (5, "@", 5, 0)
    # without -v nothing is said: nothing was lost
    q = e2e.run_prog(prog, "-c", f"{paths} mod 1 10")
    assert copies(q.stderr) == [] and sorted(v for _, v in entries(q.stdout)) == [5, 5]


def test_a_histogram_keyed_by_stack_ids_takes_the_copies_too(e2e, paths):
    prog = (f"config = {{ max_map_keys = 1 }} uprobe:{paths}:leaf "
            "{ @h[ustack] = hist(arg0); }")
    r = e2e.run_prog(prog, "-v", "-c", f"{paths} mod 1 8")
    # leaf(1) every time: one bucket of 4 per stack
    hists = re.findall(r"^@h\[(.*?)\]:\n\[1\]\s+(\d+) \|", r.stdout, re.S | re.M)
    assert len(hists) == 2 and [int(n) for _, n in hists] == [4, 4]
    assert [x[1:] for x in copies(r.stderr)] == [("@h", 4, 0)]


def test_stacks_lost_when_the_copies_are_full_are_counted(e2e, paths):
    # 4 paths x 3 calls, one bucket and one entry in each map: path 0 has
    # the id, path 1 the copies' one entry, paths 2 and 3 are lost
    prog = (f"config = {{ max_map_keys = 1 }} uprobe:{paths}:leaf "
            "{ @[ustack] = count(); }")
    r = e2e.run_prog(prog, "-v", "-c", f"{paths} mod 2 12")
    assert [v for _, v in entries(r.stdout)] == [3, 3]
    assert r.stderr.count("WARNING: Map full; can't update element") == 1
    assert [x[1:] for x in copies(r.stderr)] == [("@", 9, 6)]
    assert "3 kept, 6 lost" in r.stderr
    j = e2e.run_prog(prog, "-v", "-f", "json", "-c", f"{paths} mod 2 12")
    (c,) = records(j.stdout, "stack_copies")
    assert (c["data"]["events"], c["data"]["lost"]) == (9, 6)


def test_kernel_stacks_counted_plus_lost_are_every_event(e2e):
    # two buckets for the many stacks of sched_switch: most go to the
    # copies, whose two entries fill at once; every event is in a printed
    # count or in the lost count
    r = e2e.run_prog("config = { max_map_keys = 2 } tracepoint:sched:sched_switch "
                     "{ @[kstack] = count(); @n = count(); } interval:ms:300 { exit(); }",
                     "-v", timeout=60)
    n = int(re.search(r"^@n: (\d+)$", r.stdout, re.M).group(1))
    got = entries(r.stdout)
    ((_, name, sent, lost),) = copies(r.stderr)
    assert name == "@" and 0 < len(got) <= 4 and n > 0
    assert sum(v for _, v in got) + lost == n
    assert lost <= sent


def test_health_counts_the_copies(paths, no_leaks):
    prog = (f"config = {{ max_map_keys = 1 }} uprobe:{paths}:leaf "
            "{ @[ustack] = count(); }")
    with bpfscope.trace(prog) as t:
        subprocess.run([paths, "mod", "2", "12"], check=True)
        h = t.health()
        assert sorted(t.maps["@"].values()) == [3, 3]
    assert h["stack_copies"] == {"@": {"events": 9, "lost": 6}}
    assert h["map_full"] == {"@": 6}
