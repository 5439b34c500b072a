"""End-to-end one-liners in each of the lane's kernels: every probe type the
guest offers, every map kind and aggregation, stacks, strings and ``for``
over maps, each checked against what a helper process it starts did.

What they cover: probe types kprobe, kretprobe, fentry, fexit, tracepoint,
rawtracepoint, uprobe, uretprobe, usdt, software, BEGIN, END (PROBES),
profile and interval, iter:task, self:signal, bench:, hardware (counts
where the guest has a PMU, else the error saying it has none), watchpoint
and asyncwatchpoint (the tests after PROBES); maps: scalar, keyed, tuple
keys, declared hash, lruhash, percpuhash, percpulruhash, percpuarray,
delete, clear (MAPS); aggregations count, sum, avg, min, max, stats, hist,
lhist (MAPS); kstack, ustack, str(), strcontains, strlen, printf (OTHER);
``for ($kv : @map)`` and len(@map), with the release errors before 5.13.
The bundled tools that use kprobes: test_kprobe_tools.py.

They run in this pytest process (guestlib.trace), not through the CLI:
under emulation each new Python process costs seconds of imports, a
script run in-process well under one. Where a kernel lacks what a one-liner needs
(``for`` over maps before 5.13), the one-liner checks the error names the
release that brings it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess

import pytest

from bpfscope.errors import BpfscopeError

from guestlib import N, NOPE, OPENAT, release, run_or_refused, trace

pytestmark = pytest.mark.vmlane

SYS_OPENAT = 257        # x86-64


@pytest.fixture
def opens(bse2e):
    """A runner for scripts while the helper opens NOPE N times."""
    def run(script: str) -> str:
        code, out, err = trace(script, [bse2e, "open", NOPE, str(N)])
        assert code == 0, err
        return out
    return run


# (id, script, lines the output must hold); ``{N}``, ``{NOPE}``, ``{BSE2E}``
# are filled in
PROBES = [
    ("kprobe", 'kprobe:do_sys_openat2 /comm == "bse2e"/ { @[probe] = count(); }',
     ["@[kprobe:do_sys_openat2]: {N}"]),
    # the whole return register: (int32) for 7.x, where do_sys_openat2 returns int
    ("kretprobe", 'kretprobe:do_sys_openat2 /comm == "bse2e"/ { @[(int32)retval] = count(); }',
     ["@[-2]: {N}"]),
    ("fentry", 'fentry:do_sys_openat2 /comm == "bse2e"/ { @[args.dfd] = count(); }',
     ["@[-100]: {N}"]),
    ("fexit", 'fexit:do_sys_openat2 /comm == "bse2e"/ { @ = sum(retval); }',
     ["@: -{2N}"]),
    ("tracepoint", OPENAT + ' { @[(int32)args.dfd] = count(); }', ["@[-100]: {N}"]),
    ("rawtracepoint", f'rawtracepoint:sys_enter /comm == "bse2e" && args.id == {SYS_OPENAT}/ '
     '{ @ = count(); }', ["@: {N}"]),
    ("uprobe", 'uprobe:{BSE2E}:main { @u = count(); } uretprobe:{BSE2E}:main { @r = retval; }',
     ["@u: 1", "@r: 0"]),
    ("software", 'software:page-faults:1 /comm == "bse2e"/ { @ = count(); }', ["@: *"]),
    ("usdt", 'usdt:{BSE2E}:bse2e:open { @u = count(); @s = sum(arg0); }',
     ["@u: {N}", "@s: {SUMN}"]),
    ("begin-end", 'BEGIN { @b = 1; } END { @e = 2; }', ["@b: 1", "@e: 2"]),
]

MAPS = [
    ("scalar-and-keys", OPENAT + ' { @s = 7; @k[(int32)args.dfd, comm] = 1; @n[3] = 2; }',
     ["@s: 7", "@k[-100, bse2e]: 1", "@n[3]: 2"]),
    ("declared-kinds", 'let @h = hash(8); let @l = lruhash(8); let @p = percpuhash(8); '
     'let @pl = percpulruhash(8); let @a = percpuarray(1); '
     + OPENAT + ' { @h[1] = 1; @l[2] = 2; @p[3] = count(); @pl[4] = count(); @a[0] = count(); }',
     ["@h[1]: 1", "@l[2]: 2", "@p[3]: {N}", "@pl[4]: {N}", "@a[0]: {N}"]),
    ("aggregations", OPENAT + ' { @c = count(); @s = sum(5); @a = avg(3); @mn = min(2); '
     '@mx = max(9); @st = stats(4); }',
     ["@c: {N}", "@s: {5N}", "@a: 3", "@mn: 2", "@mx: 9", "@st: { .count = {N}, .average = 4, .total = {4N} }"]),
    ("histograms", OPENAT + ' { @h = hist(5); @l = lhist(3, 0, 10, 1); }',
     [r"re:^\[4, 8\)\s+{N} \|@+\|$", r"re:^\[3\]\s+{N} \|@+\|$"]),
    ("delete-and-clear", OPENAT + ' { @a[1] = 1; @a[2] = 2; delete(@a, 1); @g = 1; } '
     'END { clear(@g); }', ["@a[2]: 2"]),
]

OTHER = [
    ("kstack", 'kprobe:do_sys_openat2 /comm == "bse2e"/ { @[kstack(1)] = count(); }',
     [r"re:^\s+do_sys_openat2\+?\d*$", "]: {N}"]),
    ("ustack", 'uprobe:{BSE2E}:main { @[ustack(1)] = count(); }', [r"re:^\s+main\+?\d*$", "]: 1"]),
    ("strings", OPENAT + ' { @[comm, str(args.filename, 64)] = count(); '
     'if (strcontains(str(args.filename, 64), "oneliner")) { @hit = count(); } '
     '@len[strlen(str(args.filename, 64))] = count(); }',
     ["@[bse2e, {NOPE}]: {N}", "@hit: {N}", "@len[{LEN}]: {N}"]),
    ("printf", OPENAT + ' { printf("%s %d\\n", comm, (int32)args.dfd); }', ["bse2e -100"]),
]


def expand(text: str, bse2e: str) -> str:
    return (text.replace("{BSE2E}", bse2e).replace("{NOPE}", NOPE).replace("{2N}", str(2 * N))
            .replace("{4N}", str(4 * N)).replace("{5N}", str(5 * N))
            .replace("{LEN}", str(len(NOPE))).replace("{SUMN}", str(N * (N + 1) // 2)).replace("{N}", str(N)))


def check(out: str, wanted: list[str], bse2e: str) -> None:
    lines = out.splitlines()
    for w in wanted:
        w = expand(w, bse2e)
        if w.startswith("re:"):
            assert any(re.search(w[3:], ln) for ln in lines), f"no line matching {w[3:]!r}:\n{out}"
        elif w.endswith(": *"):
            assert any(ln.startswith(w[:-1]) and int(ln.split()[-1]) > 0 for ln in lines), out
        elif w.startswith("]: "):
            assert any(ln.startswith(w) for ln in lines), f"no {w!r} line:\n{out}"
        else:
            assert w in lines, f"no {w!r} line:\n{out}"


@pytest.mark.parametrize("script,wanted", [c[1:] for c in PROBES + MAPS + OTHER],
                         ids=[c[0] for c in PROBES + MAPS + OTHER])
def test_oneliner(opens, bse2e, script, wanted):
    check(opens(expand(script, bse2e)), wanted, bse2e)


def test_profile_and_interval(bse2e):
    """profile samples every CPU (idle ones too) while the helper sleeps
    30 ms; interval fires on one."""
    code, out, err = trace('profile:hz:997 { @p = 1; } interval:ms:1 { @i = 1; }',
                           [bse2e, "sleep", "30"])
    assert code == 0, err
    assert {"@p: 1", "@i: 1"} <= set(out.splitlines()), out


def test_iter_task():
    """iter:task visits every task once: this test's process exactly once."""
    code, out, err = trace(f'iter:task {{ @all = count(); '
                           f'if (ctx.task->pid == {os.getpid()}) {{ @me = count(); }} }}',
                           ["/bin/true"])
    assert code == 0, err
    assert "@me: 1" in out.splitlines(), out
    assert any(ln.startswith("@all: ") and int(ln.split()[1]) > 1 for ln in out.splitlines()), out


def test_self_signal():
    """self:signal:SIGUSR1 runs when the tracer (this process) gets SIGUSR1."""
    code, out, err = trace('self:signal:SIGUSR1 { @s = count(); }',
                           ["/bin/kill", "-USR1", str(os.getpid())])
    assert code == 0, err
    assert "@s: 1" in out.splitlines(), out


def test_bench():
    """bench: probes run 10,000 times each under --mode bench, timed by
    the kernel's run_time_ns, in bpftrace's table."""
    from bpfscope import api
    from bpfscope.output.text import TextOutput
    out, err = io.StringIO(), io.StringIO()
    code = api.run(api.compile_script('bench:incr { @b = count(); }'),
                   TextOutput(out, err), mode="bench")
    assert code == 0, err.getvalue()
    assert re.search(r"^\| incr +\| \d+ +\|$", out.getvalue(), re.M), out.getvalue()


def test_hardware(bse2e):
    """hardware: counts where the guest has a PMU; QEMU's emulation has
    none, and the error says so (and what to use instead)."""
    out = run_or_refused('hardware:instructions:1000 /comm == "bse2e"/ { @ = count(); }',
                         os.path.exists("/sys/bus/event_source/devices/cpu"),
                         ["no hardware performance counters", "software:cpu-clock"],
                         [bse2e, "open", NOPE, str(N)])
    if out is not None:
        assert any(ln.startswith("@: ") and int(ln.split()[1]) > 0
                   for ln in out.splitlines()), out


@pytest.fixture
def watched():
    """tests/e2e/progs/watched.c, built static on the host by the lane."""
    path = os.environ.get("BPFSCOPE_VMLANE_WATCHED")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("the lane built no watched helper (no C compiler on the host)")
    return path


@pytest.mark.parametrize("script,wanted", [
    ("watchpoint:{ADDR}:8:w { @w = count(); }", "@w: 7"),
    ("asyncwatchpoint:{ADDR}:8:rw { @rw = count(); }", "@rw: 10")], ids=["w", "async-rw"])
def test_watchpoint(watched, script, wanted):
    """watchpoint (w) and asyncwatchpoint (rw) on a global of the helper,
    which writes it 7 times and reads it 3 times: the CPU's debug
    registers (QEMU emulates them) see each access. One script each: with
    both on one address QEMU reports a write to the first only."""
    from bpfscope import api
    from bpfscope.output.text import TextOutput
    p = subprocess.Popen([watched, "7", "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        pid, addr = p.stdout.readline().split()
        compiled = api.compile_script(script.replace("{ADDR}", addr), pid=int(pid))
        out, err = io.StringIO(), io.StringIO()

        def go():
            p.stdin.write("g")
            p.stdin.close()
            assert p.wait(60) == 0
        code = api.run(compiled, TextOutput(out, err), duration=60, on_attached=go,
                       should_stop=lambda: True)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert code == 0, err.getvalue()
    assert wanted in out.getvalue().splitlines(), out.getvalue()


FOR_MAP = OPENAT + ' { @m[(int32)args.dfd] = count(); } END { for ($kv : @m) { printf("k=%d v=%d\\n", $kv.0, $kv.1); } }'


def test_for_over_a_map(opens):
    if release() < (5, 13):
        with pytest.raises(BpfscopeError) as e:
            opens(FOR_MAP)
        msg = e.value.format()
        assert "bpf_for_each_map_elem" in msg and "Linux 5.13 brings it" in msg, msg
        assert "for ($kv : @map)" in msg, msg
        return
    assert f"k=-100 v={N}" in opens(FOR_MAP).splitlines()


# a range bound the verifier sees only through a variable: a bpf_loop
# callback from 5.17, an open-coded loop before (its BTF has no bpf_loop)
RANGE = OPENAT + ' { $n = 3; for $i : 0..$n { @r = sum(1); } }'


def test_a_range_bounded_by_a_variable(opens):
    assert f"@r: {3 * N}" in opens(RANGE).splitlines()


LEN = OPENAT + ' { @seen[nsecs] = 1; @n = len(@seen); }'


def test_len_of_a_map(opens):
    """len(@map): the kfunc bpf_map_sum_elem_count from 6.6, else
    bpf_for_each_map_elem's count of the elements it visited (6.1); 5.10
    has neither, and the error names the helper and its release."""
    if release() < (5, 13):
        with pytest.raises(BpfscopeError) as e:
            opens(LEN)
        msg = e.value.format()
        assert "bpf_for_each_map_elem" in msg and "5.13" in msg, msg
        return
    assert f"@n: {N}" in opens(LEN).splitlines()
