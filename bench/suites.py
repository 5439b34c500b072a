"""The benchmark suites. Each ``case`` function runs one tool once on one
case and returns {metric: value}; run.py calls them alternately for both
tools over several rounds and takes medians.

Metrics are named ``<name>`` with a unit in METRICS; ``lower`` says whether
a smaller number is better.
"""

from __future__ import annotations

import os
import re
import time

from harness import (SyscallPoker, TracerRun, adapt_script, fdinfo_progs, run_workload,
                     run_workload_cpu, tool_env, xlated_insns)

TOOLS = ("bpfscope", "bpftrace")

# metric -> (unit, lower is better, description)
METRICS = {
    "attach_msg_s": ("s", True, "launch to the attach message"),
    "live_s": ("s", True, "launch to the first event seen by a probe (exit() on it) and process exit"),
    "exit_s": ("s", True, "launch to process exit"),
    "maxrss_mb": ("MiB", True, "peak resident memory (wait4 ru_maxrss)"),
    "compile_s": ("s", True, "compile without loading: bpfscope --dry-run, bpftrace --emit-elf"),
    "ns_per_event": ("ns", True, "in-kernel run_time_ns per event (all programs of the tracer that fired, summed, / events)"),
    "insns": ("insns", True, "xlated instructions of the tracepoint programs (sum)"),
    "delivered_pct": ("%", False, "printf lines delivered / events caused"),
    "lost_reported": ("events", True, "events the tool itself reported as lost"),
    "unaccounted": ("events", True, "caused - delivered - reported lost (silently missing; negative = over-reported loss)"),
    "print_s": ("s", True, "SIGINT to process exit, printing the map"),
    "lines": ("lines", False, "map entries printed"),
    "slowdown_pct": ("%", True, "workload time with the profiler / without (mean of a run just before and just after) - 1"),
    "slowdown_best_pct": ("%", True, "fastest traced run / fastest untraced run of all rounds - 1"),
    "workload_s": ("s", True, "CPU-bound workload (2 processes) wall time with the profiler attached"),
    "baseline_s": ("s", True, "the same workload without any tracer (mean of the runs before and after)"),
    "cpu_slowdown_pct": ("%", True, "the workload's own user+sys CPU time with the profiler / without - 1 (insensitive to other load)"),
    "untraced_spread_pct": ("%", True, "|before - after| / mean of the two untraced runs around a traced one"),
    "cpu_during_s": ("s", True, "the tracer's own user+sys CPU time while the workload ran (/proc/PID/stat)"),
    "cpu_total_s": ("s", True, "the tracer's own user+sys CPU time, launch to exit (wait4 rusage)"),
    "ns_per_sample": ("ns", True, "in-kernel run_time_ns / run_cnt of the profile (perf_event) programs"),
    "samples": ("samples", False, "run_cnt of the profile programs during the workload (all CPUs)"),
    "stacks": ("keys", False, "map entries printed at exit"),
    "traced_workload_s": ("s", True, "how long the workload's syscalls took while traced (a tracer that "
                          "keeps up by slowing the workload down shows here)"),
    "detach_s": ("s", True, "SIGINT to process exit: every probe detached, the map printed"),
    "attached": ("probes", False, "probes the attach message counted"),
    "user_samples": ("samples", False, "profile samples of the workload counted in the map"),
    "cpu_per_sample_us": ("us", True, "the tracer's own CPU while the workload ran / samples counted"),
    "full_stacks_pct": ("%", False, "samples whose stack reaches main (the whole chain)"),
}

# Twenty syscall tracepoints for the 20-probe start-up script (19 plus the
# getppid probe that ends the run).
SYSCALLS_19 = ["openat", "read", "write", "close", "mmap", "munmap", "brk",
               "newfstatat", "fstat", "ioctl", "pread64", "lseek", "futex",
               "nanosleep", "clock_nanosleep", "epoll_wait", "poll",
               "rt_sigaction", "rt_sigprocmask"]


def existing_syscalls(names):
    base = "/sys/kernel/tracing/events/syscalls"
    return [n for n in names if os.path.isdir(f"{base}/sys_enter_{n}")]


# ---------------------------------------------------------------- start-up

def startup_scripts() -> dict[str, str]:
    me = os.getpid()
    live = (f"tracepoint:syscalls:sys_enter_getppid /pid == {me}/ "
            "{ @[comm] = count(); exit(); }")
    others = existing_syscalls(SYSCALLS_19)
    # pad with other syscall tracepoints if some of the list do not exist
    if len(others) < 19:
        extra = sorted(e[len("sys_enter_"):] for e in os.listdir("/sys/kernel/tracing/events/syscalls")
                       if e.startswith("sys_enter_"))
        others += [e for e in extra if e not in others and e != "getppid"][:19 - len(others)]
    p20 = "\n".join(f"tracepoint:syscalls:sys_enter_{s} {{ @c[probe] = count(); }}" for s in others)
    return {
        "BEGIN { exit() }": "BEGIN { exit() }",
        "tracepoint one-liner": live,
        "20 tracepoint probes": p20 + "\n" + live,
    }


def startup_case(tool: str, script: str, ctx) -> dict:
    r = TracerRun(tool, script).start()
    with SyscallPoker(0.001):
        r.wait_attached(60)
        r.wait(60)
    if r.status != 0:
        raise RuntimeError(f"{tool} exited {r.status}: {r.stderr_text()[-500:]}")
    exit_s = r.since_start(r.end_at)
    res = {"attach_msg_s": r.since_start(r.attach_at), "maxrss_mb": r.maxrss_mb,
           "cpu_total_s": r.cpu_s}
    if script.startswith("BEGIN"):
        res["exit_s"] = exit_s
    else:
        res["live_s"] = exit_s
    return res


# ------------------------------------------------------------ compile time

def _tracepoints(n: int) -> list[str]:
    """n tracepoints: syscalls first, then the other categories, sorted."""
    sc = sorted(e for e in os.listdir("/sys/kernel/tracing/events/syscalls") if e.startswith("sys_"))
    out = [f"syscalls:{e}" for e in sc]
    if len(out) < n:
        with open("/sys/kernel/tracing/available_events") as f:
            rest = sorted(line.strip() for line in f if line.strip() and not line.startswith("syscalls:"))
        out += rest
    return out[:n]


def compile_scripts(sizes) -> dict[str, str]:
    scripts = {}
    for n in sizes:
        scripts[f"{n} probes"] = "\n".join(
            f"tracepoint:{tp} {{ @c{i} = count(); }}" for i, tp in enumerate(_tracepoints(n)))
    for n in sizes:
        body = "\n".join(f"  $v = $v * 3 + {i}; @m[{i}] = $v;" for i in range(n))
        scripts[f"{n} statements"] = "BEGIN {\n  $v = 1;\n" + body + "\n  exit();\n}"
    # bpfscope's compile cache (bpfscope.compilecache): the rows above are
    # compiled with it off; these load a compile made just before
    for n in sizes:
        if n <= 100:
            scripts[f"{n} probes, cached"] = (scripts[f"{n} probes"], "cached")
    return scripts


def compile_case(tool: str, spec, ctx) -> dict:
    script, cache = spec if isinstance(spec, tuple) else (spec, "off")
    nprobes = script.count("\ntracepoint:") + 1
    env = tool_env(tool, max_probes=max(2 * nprobes, 512))
    if tool == "bpfscope":
        args = ["--dry-run"]
        if cache == "off":
            env["BPFSCOPE_COMPILE_CACHE"] = "0"
        else:  # the cache gets this compile, then the measured run loads it
            prime = TracerRun(tool, script, args=args, env=env).start()
            prime.wait(300)
    else:
        args = ["--emit-elf", os.path.join(ctx.build_dir, "dry.elf")]
    r = TracerRun(tool, script, args=args, env=env).start()
    r.wait(300)
    if r.status != 0:
        raise RuntimeError(f"{tool} exited {r.status}: {r.stderr_text()[-500:]}")
    return {"compile_s": r.since_start(r.end_at), "cpu_total_s": r.cpu_s, "maxrss_mb": r.maxrss_mb}


# --------------------------------------------------------- in-kernel cost

PRINTF_SCRIPT = 'tracepoint:syscalls:sys_enter_getppid { printf("EV %d %d\\n", pid, tid); }'


def cost_scripts() -> dict[str, tuple[str, str]]:
    """name -> (script, workload mode)."""
    tp = "tracepoint:syscalls"
    return {
        "count() by comm": (f"{tp}:sys_enter_getppid {{ @[comm] = count(); }}", "getppid"),
        "hist() of a value": (f"{tp}:sys_enter_getppid {{ @h = hist(nsecs & 0xfffff); }}", "getppid"),
        "latency pair by tid": (
            f"{tp}:sys_enter_getppid {{ @s[tid] = nsecs; }}\n"
            f"{tp}:sys_exit_getppid /@s[tid]/ {{ @ns = hist(nsecs - @s[tid]); delete(@s[tid]); }}",
            "getppid"),
        "printf every event, flat out": (PRINTF_SCRIPT, "getppid"),
        "printf every event, 20,000/s": (PRINTF_SCRIPT, "getppid", 20000, 20000),
        "string key (str(args->filename))": (f"{tp}:sys_enter_openat {{ @[str(args->filename)] = count(); }}", "openat"),
        # the least a count costs: the bench's own hand-written program
        # (bpfinfo.floor_program), the same in both columns
        "physical floor: count() by hand (lookup + add)": (FLOOR, "getppid"),
        "uprobe, a C function called 1e6 times": (
            "uprobe:{wl}:bpfbench_ucall { @ = count(); }", "ucall", 0, 1_000_000, KPROBE_PROG_TYPE),
        "usdt, a probe passed 1e6 times": (
            "usdt:{wl}:bpfbench:tick { @ = count(); }", "usdt", 0, 1_000_000, KPROBE_PROG_TYPE),
        # 2 processes of 3e8 rounds of spin: ~1 s of CPU each
        "profile:hz:999 kstack + ustack": (
            "profile:hz:999 { @[kstack, ustack] = count(); }", "spin", 2, 300_000_000,
            PERF_EVENT_PROG_TYPE),
    }


KPROBE_PROG_TYPE, TRACEPOINT_PROG_TYPE, PERF_EVENT_PROG_TYPE = 2, 5, 7
FLOOR = "(floor)"


def floor_case(mode: str, n: int, ctx) -> dict:
    """The hand-written count program on sys_enter_getppid, in this process."""
    from bpfinfo import FloorProgram
    prog = FloorProgram("syscalls/sys_enter_getppid")
    try:
        before = fdinfo_progs(os.getpid())
        run_workload(ctx.workload, mode, n, 0)
        after = fdinfo_progs(os.getpid())
        insns = sum(xlated_insns(p) or 0 for p in after)
    finally:
        prog.close()
    rt = cnt = 0
    for pid, a in after.items():
        b = before.get(pid)
        rt += a.run_time_ns - (b.run_time_ns if b else 0)
        cnt += a.run_cnt - (b.run_cnt if b else 0)
    if cnt == 0:
        raise RuntimeError("the floor program did not run (bpf stats off?)")
    return {"ns_per_event": rt / cnt, "insns": insns}


def cost_case(tool: str, spec, ctx) -> dict:
    script, mode, *more = spec
    # (script, mode[, rate, n[, program type]]): n None is ctx.cost_events
    defaults = (0, None, TRACEPOINT_PROG_TYPE)
    rate, n, ptype = (*more, *defaults[len(more):])
    n = n or ctx.cost_events
    if script == FLOOR:
        return floor_case(mode, n, ctx)
    script = script.replace("{wl}", ctx.workload)
    r = TracerRun(tool, script, keep_stdout=False, stdout_marker=b"EV ").start()
    try:
        if not r.wait_attached(60):
            raise RuntimeError(f"{tool} did not attach: {r.stderr_text()[-500:]}")
        time.sleep(0.3)  # bpftrace prints its message before attaching
        before = r.progs()
        run_workload(ctx.workload, mode, n, rate)
        after = r.progs()
        xlated = {pid: xlated_insns(pid) for pid in after}
        if "printf" in script:
            drain(r, n)
    finally:
        r.interrupt()
        r.wait(60)
    rt = cnt = insns = 0
    for pid, a in after.items():
        if a.type != ptype:
            continue
        b = before.get(pid)
        d_rt = a.run_time_ns - (b.run_time_ns if b else 0)
        d_cnt = a.run_cnt - (b.run_cnt if b else 0)
        rt += d_rt
        cnt = max(cnt, d_cnt)
        insns += xlated[pid] or 0
    if cnt == 0:
        raise RuntimeError(f"{tool}: no program of type {ptype} ran (bpf stats off?)")
    res = {"ns_per_event": rt / cnt, "insns": insns}
    if "printf" in script:
        res["delivered_pct"] = 100.0 * r.out.markers / n
        res["lost_reported"] = r.lost()
        res["unaccounted"] = n - r.out.markers - res["lost_reported"]
    return res


def drain(r, n, quiet=0.5, limit=15.0) -> None:
    """Wait until the tool has printed n marker lines, or nothing new came
    for ``quiet`` seconds (at most ``limit`` seconds)."""
    last, still, t_end = -1, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < t_end:
        cur = r.out.markers
        if cur != last:
            last, still = cur, time.monotonic()
        elif cur >= n or time.monotonic() - still > quiet:
            break
        time.sleep(0.05)


# ------------------------------------------------------ keeping up with output

RATE_SCRIPT = ('tracepoint:syscalls:sys_enter_getppid /comm == "bpfbench_wl"/ '
               '{ printf("EV %d\\n", tid); }')


def rate_cases(rates, seconds, burst: int = 0) -> dict[str, tuple[int, int]]:
    cases = {}
    for rate in rates:
        if rate == 0:
            cases["flat out"] = (0, int(max(rates) * seconds))
        else:
            cases[f"{rate:,}/s"] = (rate, int(rate * seconds))
    if burst:
        cases[f"burst of {burst:,} syscalls"] = (0, burst)
    return cases


def rate_case(tool: str, spec, ctx) -> dict:
    rate, n = spec
    r = TracerRun(tool, RATE_SCRIPT, keep_stdout=False, stdout_marker=b"EV ").start()
    try:
        if not r.wait_attached(60):
            raise RuntimeError(f"{tool} did not attach: {r.stderr_text()[-500:]}")
        time.sleep(0.3)
        took = run_workload(ctx.workload, "getppid", n, rate)
        drain(r, n)
    finally:
        r.interrupt()
        r.wait(60)
    lost = r.lost()
    return {"delivered_pct": 100.0 * r.out.markers / n, "lost_reported": lost,
            "unaccounted": n - r.out.markers - lost, "traced_workload_s": took}


# ------------------------------------------------------------ large maps

BIGMAP_SCRIPT = ('tracepoint:syscalls:sys_enter_getppid /comm == "bpfbench_wl"/ '
                 '{ @m[@i] = @i; @i = @i + 1; }')


def bigmap_case(tool: str, nkeys: int, ctx) -> dict:
    keys = 2 * nkeys
    script = adapt_script(tool, BIGMAP_SCRIPT, map_keys=keys)
    r = TracerRun(tool, script, env=tool_env(tool, map_keys=keys)).start()
    try:
        if not r.wait_attached(60):
            raise RuntimeError(f"{tool} did not attach: {r.stderr_text()[-500:]}")
        time.sleep(0.3)
        run_workload(ctx.workload, "getppid", nkeys)
        time.sleep(0.2)
    finally:
        t = r.interrupt()
        r.wait(300)
    lines = bytes(r.out.data).count(b"\n@m[")
    return {"print_s": r.end_at - t, "lines": lines, "maxrss_mb": r.maxrss_mb}


# ------------------------------------------------------ profiler overhead

PROFILE_SCRIPT = "profile:hz:99 { @[kstack, ustack, comm] = count(); }"
PERF_EVENT_PROG_TYPE = 7


def _proc_cpu_s(pid: int) -> float | None:
    """utime + stime of process ``pid`` (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_case(tool: str, work: int, ctx) -> dict:
    """The CPU-bound workload (2 processes x ``work`` rounds) without a
    tracer, with the tool's 99 Hz stack profiler attached, and without a
    tracer again; slowdown against the mean of the two untraced runs."""
    procs = os.cpu_count() or 2
    base1, bcpu1 = run_workload_cpu(ctx.workload, "spin", work, procs)
    r = TracerRun(tool, PROFILE_SCRIPT).start()
    try:
        if not r.wait_attached(60):
            raise RuntimeError(f"{tool} did not attach: {r.stderr_text()[-500:]}")
        time.sleep(0.3)  # bpftrace prints its message before attaching
        before, cpu0 = r.progs(), _proc_cpu_s(r.proc.pid)
        traced, tcpu = run_workload_cpu(ctx.workload, "spin", work, procs)
        after, cpu1 = r.progs(), _proc_cpu_s(r.proc.pid)
    finally:
        t = r.interrupt()
        r.wait(300)
    base2, bcpu2 = run_workload_cpu(ctx.workload, "spin", work, procs)
    if r.status != 0:
        raise RuntimeError(f"{tool} exited {r.status}: {r.stderr_text()[-500:]}")
    rt = cnt = 0
    for pid, a in after.items():
        if a.type != PERF_EVENT_PROG_TYPE:
            continue
        b = before.get(pid)
        rt += a.run_time_ns - (b.run_time_ns if b else 0)
        cnt += a.run_cnt - (b.run_cnt if b else 0)
    if cnt == 0:
        raise RuntimeError(f"{tool}: no perf_event program ran (bpf stats off?)")
    base = (base1 + base2) / 2
    ru = r.rusage
    return {"slowdown_pct": 100.0 * (traced / base - 1), "workload_s": traced, "baseline_s": base,
            "untraced_spread_pct": 100.0 * abs(base1 - base2) / base,
            "cpu_slowdown_pct": 100.0 * (2 * tcpu / (bcpu1 + bcpu2) - 1),
            "cpu_during_s": (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
            "cpu_total_s": ru.ru_utime + ru.ru_stime,
            "print_s": r.end_at - t,
            "ns_per_sample": rt / cnt, "samples": cnt,
            "stacks": bytes(r.out.data).count(b"@["),
            "maxrss_mb": r.maxrss_mb}


# ------------------------------------------------------ attach at scale

def attach_cases(n: int) -> dict[str, int]:
    return {f"uprobe wildcard over {n:,} functions": n}


def attach_case(tool: str, n: int, ctx) -> dict:
    """Launch to the attach message and SIGINT to exit for a wildcard over
    the n functions of the bench's own program (bpfscope: one uprobe_multi
    link where the kernel has them; bpftrace 0.17: a perf event each)."""
    import subprocess
    target = subprocess.Popen([ctx.many], stdin=subprocess.PIPE)
    try:
        env = tool_env(tool, max_probes=2 * n + 16)
        r = TracerRun(tool, f"uprobe:{ctx.many}:bm_f* {{ @ = count(); }}", env=env).start()
        if not r.wait_attached(600):
            r.interrupt()
            r.wait(60)
            raise RuntimeError(f"{tool} did not attach: {r.stderr_text()[-300:]}")
        m = re.search(rb"Attach(?:ed|ing) (\d+) probe", bytes(r.err.data if tool == "bpfscope" else r.out.data))
        if tool == "bpftrace":
            # it prints its message before attaching: wait for its n perf events
            deadline = time.monotonic() + 900
            while _perf_events(r.proc.pid) < n and time.monotonic() < deadline and r.alive():
                time.sleep(0.01)
            attached = time.monotonic() - r.t0
        else:
            attached = r.since_start(r.attach_at)
        t = r.interrupt()
        r.wait(900)
        if r.status != 0:
            raise RuntimeError(f"{tool} exited {r.status}: {r.stderr_text()[-300:]}")
        return {"attach_msg_s": attached, "detach_s": r.end_at - t,
                "attached": int(m.group(1)) if m else None}
    finally:
        target.stdin.close()
        target.wait()


# ------------------------------------- user stacks without frame pointers

def unwind_cases(work: int) -> dict[str, tuple[str, int]]:
    return {f"profile:hz:999 {{ @[{k}] = count(); }}, -O2 -fomit-frame-pointer workload": (k, work)
            for k in ("ustack", "dw_ustack()")}


def _stack_entries(text: str):
    """(stack text, count) of each entry of a map printed as bpftrace does."""
    for m in re.finditer(r"@\[\n(.*?)\]: (\d+)", text, re.S):
        yield m.group(1), int(m.group(2))


def unwind_case(tool: str, spec, ctx) -> dict:
    """The spin workload built without frame pointers, profiled at 999 Hz
    with its user stacks counted: by frame pointer (ustack) or by DWARF
    call frame information (dw_ustack, which bpftrace 0.17 lacks). The
    tracer's CPU per counted sample, and how many stacks reach main."""
    kind, work = spec
    procs = os.cpu_count() or 2
    script = f'profile:hz:999 /comm == "bpfbench_nofp"/ {{ @[{kind}] = count(); }}'
    r = TracerRun(tool, script).start()
    try:
        if not r.wait_attached(60):
            raise RuntimeError(f"{tool} did not attach: {r.stderr_text()[-500:]}")
        time.sleep(0.3)
        before, cpu0 = r.progs(), _proc_cpu_s(r.proc.pid)
        run_workload_cpu(ctx.nofp, "spin", work, procs)
        time.sleep(0.2)   # the last records reach user space
        after, cpu1 = r.progs(), _proc_cpu_s(r.proc.pid)
    finally:
        r.interrupt()
        r.wait(300)
    if r.status != 0:
        raise RuntimeError(f"{tool} exited {r.status}: {r.stderr_text()[-500:]}")
    entries = list(_stack_entries(bytes(r.out.data).decode(errors="replace")))
    samples = sum(n for _, n in entries)
    if not samples:
        raise RuntimeError(f"{tool}: no stack counted")
    full = sum(n for text, n in entries if re.search(r"^\s*main\b", text, re.M))
    rt = cnt = 0
    for pid, a in after.items():
        b = before.get(pid)
        if a.type == PERF_EVENT_PROG_TYPE:
            rt += a.run_time_ns - (b.run_time_ns if b else 0)
            cnt += a.run_cnt - (b.run_cnt if b else 0)
    during = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
    return {"user_samples": samples,
            "cpu_per_sample_us": 1e6 * during / samples if during is not None else None,
            "cpu_during_s": during, "full_stacks_pct": 100.0 * full / samples,
            "ns_per_sample": rt / cnt if cnt else None, "maxrss_mb": r.maxrss_mb}


# ------------------------------------------- uprobe args from a debug file

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _build_id(path: str) -> str | None:
    import subprocess
    r = subprocess.run(["readelf", "-n", path], capture_output=True, text=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    return m.group(1) if m else None


def debuginfo_cases() -> dict[str, tuple[str, bool]]:
    """libc with libc6-dbg's debug file (found by build-id), cold (no
    DWARF index cached) and warm; nothing when the debug file is missing."""
    bid = _build_id(LIBC) if os.path.exists(LIBC) else None
    if not bid or not os.path.isfile(f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"):
        return {}
    me = os.getpid()
    script = f"uprobe:{LIBC}:getpriority /pid == {me}/ {{ print(args); exit(); }}"
    return {f"uprobe:libc:getpriority {{ print(args) }}, {k}": (script, k == "warm")
            for k in ("cold", "warm")}


def debuginfo_case(tool: str, spec, ctx) -> dict:
    """Launch to the attach message and to exit (the probe fired on this
    process's getpriority, print(args) printed) with libc's DWARF in its
    separate debug file. bpfscope: cold runs get an empty DWARF cache
    ($BPFSCOPE_DWARF_CACHE), warm ones the one a first, untimed run filled.
    bpftrace 0.17 has no such cache (and reads no separate debug file)."""
    import shutil
    script, warm = spec
    env = tool_env(tool)
    cache = os.path.join(ctx.build_dir, "dwarf-warm" if warm else "dwarf-cold")
    if tool == "bpfscope":
        env["BPFSCOPE_DWARF_CACHE"] = cache
        if not warm:
            shutil.rmtree(cache, ignore_errors=True)
    runs = 2 if tool == "bpfscope" and warm and not os.path.isdir(cache) else 1
    for _ in range(runs):
        r = TracerRun(tool, script, env=env).start()
        with SyscallPoker(0.001, call=lambda: os.getpriority(os.PRIO_PROCESS, 0)):
            r.wait_attached(120)
            r.wait(120)
        if r.status != 0:
            raise RuntimeError(f"{tool} exited {r.status}: {r.stderr_text()[-500:]}")
    if b"which" not in bytes(r.out.data):
        raise RuntimeError(f"{tool} printed no args: {bytes(r.out.data)[:200]!r}")
    return {"attach_msg_s": r.since_start(r.attach_at), "live_s": r.since_start(r.end_at),
            "cpu_total_s": r.cpu_s, "maxrss_mb": r.maxrss_mb}


def _perf_events(pid: int) -> int:
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[perf_event]"
            except OSError:
                pass
    except OSError:
        pass
    return n
