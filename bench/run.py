#!/usr/bin/env python3
"""bpfscope vs bpftrace, side by side.

    python3 bench/run.py                 # all suites, 3 rounds (~5 minutes)
    python3 bench/run.py --quick         # 1 round, smaller workloads
    python3 bench/run.py --only startup,cost --rounds 5
    python3 bench/run.py --update-readme # also put the table in bench/README.md

Runs both tools alternately (the order flips each round) on identical
scripts and workloads, and writes medians and bpfscope/bpftrace ratios to
bench/results/latest.json and bench/results/latest.md. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import suites  # noqa: E402

SUITES = ("startup", "compile", "cost", "rate", "bigmap", "profile", "attach", "debuginfo", "unwind")
SUITE_TITLES = {
    "startup": "Start-up",
    "compile": "Compile time as scripts grow",
    "cost": "In-kernel cost per event",
    "rate": "Keeping up with printf output",
    "bigmap": "Printing a large map at exit",
    "profile": "Profiler overhead on a busy machine",
    "attach": "Attach and detach at scale",
    "debuginfo": "uprobe args from a separate debug file",
    "unwind": "User stacks without frame pointers",
}


class Ctx:
    pass


def ensure_bpftrace(install: bool) -> None:
    if shutil.which("bpftrace"):
        return
    if not install:
        sys.exit("bpftrace is not installed (run without --no-install to apt-get it)")
    print("installing bpftrace with apt-get ...", file=sys.stderr)
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "bpftrace"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def machine_info(snapshot_rev: str | None = None) -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=harness.REPO).stdout.strip()
        except OSError:
            return "?"

    def sysctl(name):
        try:
            with open("/proc/sys/" + name.replace(".", "/")) as f:
                return f.read().strip()
        except OSError:
            return "?"

    rev = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "status", "--porcelain", "--", "bpfscope"])
    if snapshot_rev:
        rev, dirty = snapshot_rev, ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "bpftrace": out(["bpftrace", "--version"]),
        "bpfscope": (subprocess.run(harness.tool_command("bpfscope") + ["--version"], capture_output=True,
                                    text=True, env=harness.tool_env("bpfscope"), cwd="/tmp").stdout.strip()
                     or "bpfscope") + f" (git {rev}{' + uncommitted changes' if dirty else ''})",
        "bpf_jit_enable": sysctl("net.core.bpf_jit_enable"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


class BpfStats:
    """kernel.bpf_stats_enabled=1 while the suite runs, restored after."""
    path = "/proc/sys/kernel/bpf_stats_enabled"

    def __enter__(self):
        with open(self.path) as f:
            self.old = f.read().strip()
        with open(self.path, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(self.path, "w") as f:
            f.write(self.old)


def run_suite(name: str, cases: dict, fn, ctx, rounds: int, results: list) -> None:
    if ctx.cases:  # --case: only the cases whose name holds one of the words
        cases = {c: v for c, v in cases.items() if any(w in c for w in ctx.cases)}
        if not cases:
            return
    print(f"== {SUITE_TITLES[name]}", file=sys.stderr)
    samples = {case: {t: {} for t in suites.TOOLS} for case in cases}
    errors = {case: {} for case in cases}
    for rnd in range(rounds):
        order = suites.TOOLS if rnd % 2 == 0 else suites.TOOLS[::-1]
        for case, spec in cases.items():
            for tool in order:
                try:
                    vals = fn(tool, spec, ctx)
                except Exception as e:  # record and go on: one failure is a result too
                    text = str(e).strip()
                    errl = [ln for ln in text.splitlines() if "ERROR" in ln and "RLIMIT_MEMLOCK" not in ln]
                    msg = (errl[0] if errl else text.splitlines()[0]) if text else repr(e)
                    errors[case][tool] = msg[:300]
                    if ctx.verbose:
                        traceback.print_exc()
                    print(f"   {case:32} {tool:9} round {rnd + 1}: FAILED {msg[:200]}", file=sys.stderr)
                    continue
                for k, v in vals.items():
                    if v is not None:
                        samples[case][tool].setdefault(k, []).append(v)
                shown = " ".join(f"{k}={v:.4g}" for k, v in vals.items() if v is not None)
                print(f"   {case:32} {tool:9} round {rnd + 1}: {shown}", file=sys.stderr)
    for case in cases:
        metrics = []
        for t in suites.TOOLS:
            metrics += [m for m in samples[case][t] if m not in metrics]
        for m in metrics or [None]:
            row = {"suite": name, "case": case, "metric": m}
            if m is not None:
                unit, lower, desc = suites.METRICS[m]
                row.update(unit=unit, lower_is_better=lower)
            for t in suites.TOOLS:
                vs = samples[case][t].get(m, []) if m else []
                row[t] = {"median": statistics.median(vs) if vs else None, "samples": vs,
                          "error": errors[case].get(t)}
            a, b = row["bpfscope"]["median"], row["bpftrace"]["median"]
            row["ratio"] = (a / b) if (a is not None and b) else None
            if row["ratio"] is None and a is not None and b is not None:
                row["ratio"] = 1.0 if a == b else None
            results.append(row)


def annotate(results: list) -> None:
    """ns per event is not comparable when one tool dropped most events
    (a failed ring buffer reservation is cheaper than a delivered record)."""
    for row in results:
        if row["suite"] != "cost" or row["metric"] != "ns_per_event":
            continue
        d = next((x for x in results if x["suite"] == "cost" and x["case"] == row["case"]
                  and x["metric"] == "delivered_pct"), None)
        if not d or d["bpfscope"]["median"] is None or d["bpftrace"]["median"] is None:
            continue
        a, b = d["bpfscope"]["median"], d["bpftrace"]["median"]
        if abs(a - b) > 5:
            row["note"] = (f"not comparable: bpfscope delivered {a:.0f} % of events, "
                           f"bpftrace {b:.0f} % (dropped events cost less)")


def profile_derived(results: list) -> None:
    """The profiler case's wall times are at the mercy of whatever else the
    machine runs. Adds (1) to the slowdown row how much the two untraced runs
    around a traced one differ (median over all calls, %), used by its
    verdict, and (2) a best-of-all-rounds slowdown: the fastest traced run of
    each tool against the fastest untraced run of the whole case (the
    minimum is what a run gets with no interference; its verdict uses the
    same noise threshold, since other load can land on either tool's runs)."""
    prof = [r for r in results if r["suite"] == "profile"]
    by = {r["metric"]: r for r in prof}
    if "slowdown_pct" not in by:
        return
    spread = by.get("untraced_spread_pct")
    if spread:
        vs = spread["bpfscope"]["samples"] + spread["bpftrace"]["samples"]
        if vs:
            by["slowdown_pct"]["noise_pct"] = statistics.median(vs)
    base_samples = (by["baseline_s"]["bpfscope"]["samples"] + by["baseline_s"]["bpftrace"]["samples"])
    if not base_samples:
        return
    best_base = min(base_samples)
    row = {"suite": "profile", "case": by["slowdown_pct"]["case"], "metric": "slowdown_best_pct",
           "unit": "%", "lower_is_better": True, "noise_pct": by["slowdown_pct"].get("noise_pct", 0.0)}
    for t in suites.TOOLS:
        w = by["workload_s"][t]["samples"]
        row[t] = {"median": 100.0 * (min(w) / best_base - 1) if w else None, "samples": [],
                  "error": by["workload_s"][t]["error"]}
    a, b = row["bpfscope"]["median"], row["bpftrace"]["median"]
    row["ratio"] = a / b if (a is not None and b) else None
    results.insert(results.index(by["slowdown_pct"]) + 1, row)


def highest_lossless(results: list) -> list:
    """Derived rows: the highest rate with everything delivered and no loss
    reported, in every round."""
    rows = []
    rate_rows = [r for r in results if r["suite"] == "rate" and r["metric"] == "delivered_pct"]
    lost_rows = {r["case"]: r for r in results if r["suite"] == "rate" and r["metric"] == "lost_reported"}
    best = {}
    for t in suites.TOOLS:
        best[t] = None
        for r in rate_rows:
            d = r[t]["samples"]
            lost = lost_rows.get(r["case"], {}).get(t, {}).get("samples", [])
            if d and min(d) >= 99.999 and not any(lost):
                rate = r["case"]
                best[t] = rate
            else:
                break
    rows.append({"suite": "rate", "case": "highest rate with no loss (all rounds)",
                 "metric": "highest_lossless", "unit": "", "lower_is_better": False,
                 "bpfscope": {"median": best["bpfscope"], "samples": [], "error": None},
                 "bpftrace": {"median": best["bpftrace"], "samples": [], "error": None},
                 "ratio": None})
    return rows


def fmt(v, unit) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    if unit == "MiB":
        return f"{v:.0f} MiB"
    if unit == "ns":
        return f"{v:.0f} ns"
    if unit == "%":
        return f"{v:.1f} %"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"


def verdict(row) -> str:
    r = row["ratio"]
    if row.get("note"):
        return row["note"]
    if row["metric"] == "cpu_slowdown_pct":
        a, b = row["bpfscope"]["median"], row["bpftrace"]["median"]
        if a is None or b is None:
            return "; ".join(f"{t} failed: {row[t]['error']}" for t in suites.TOOLS if row[t]["error"])
        d = a - b
        if abs(d) <= 1.0:
            return f"about the same ({d:+.1f} points)"
        return (f"**bpfscope costs it {d:.1f} points more**" if d > 0
                else f"bpfscope costs it {-d:.1f} points less")
    if row["metric"] in ("slowdown_pct", "slowdown_best_pct"):
        # a ratio of two small percentages says little: compare the
        # difference in points with the spread of the untraced runs
        a, b = row["bpfscope"]["median"], row["bpftrace"]["median"]
        if a is None or b is None:
            return "; ".join(f"{t} failed: {row[t]['error']}" for t in suites.TOOLS if row[t]["error"])
        noise = row.get("noise_pct", 0.0)
        d = a - b
        if abs(d) <= max(1.0, noise):
            return (f"about the same ({d:+.1f} points; untraced runs vary by {noise:.1f} %)" if noise
                    else f"about the same ({d:+.1f} points)")
        return (f"**bpfscope slows it {d:.1f} points more**" if d > 0
                else f"bpfscope slows it {-d:.1f} points less")
    if row["metric"] == "delivered_pct":
        a, b = row["bpfscope"]["median"], row["bpftrace"]["median"]
        if abs(a - b) < 0.5:
            return "about the same"
        return f"**bpfscope delivers less**" if a < b else "bpfscope delivers more"
    if row["metric"] == "cpu_during_s" and row["bpftrace"]["median"] == 0 and row["bpfscope"]["median"]:
        return "**bpfscope uses CPU while it profiles; bpftrace none measurable (10 ms ticks)**"
    if r is None:
        errs = [f"{t} failed: {row[t]['error']}" for t in suites.TOOLS if row[t]["error"]]
        return "; ".join(errs)
    if row["metric"] in ("lines",):
        return "same" if abs(r - 1) < 1e-9 else f"bpfscope printed {r:.2f}x as many"
    if row["metric"] in ("lost_reported", "untraced_spread_pct"):
        return ""
    if row["metric"] in ("samples", "stacks"):
        return "about the same" if 0.9 <= r <= 1.1 else f"bpfscope {r:.2f}x as many"
    lower = row["lower_is_better"]
    if row["metric"] == "unaccounted" or r == 0:
        return ""
    if 0.9 <= r <= 1.1:
        return "about the same"
    worse = (r > 1) == lower
    x = r if r > 1 else 1 / r
    word = {"maxrss_mb": ("more memory", "less memory"),
            "insns": ("more instructions", "fewer instructions"),
            "cpu_total_s": ("more CPU time", "less CPU time"),
            "cpu_during_s": ("more CPU time", "less CPU time"),
            "delivered_pct": ("delivers less", "delivers more")}.get(
        row["metric"], ("slower", "faster"))
    return f"**bpfscope {x:.1f}x {word[0]}**" if worse else f"bpfscope {x:.1f}x {word[1]}"


def markdown(info: dict, results: list, rounds: int, opts, profile_rounds: int | None = None) -> str:
    lines = []
    lines.append(f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}, "
                 f"Python {info['python']}; {info['bpftrace']}; bpfscope {info['bpfscope']}; "
                 f"bpf_jit_enable={info['bpf_jit_enable']}; {info['date']}.")
    extra = f" (profiler case: {profile_rounds})" if profile_rounds and profile_rounds != rounds else ""
    lines.append(f"Medians of {rounds} round(s){extra}; ratio = bpfscope / bpftrace.")
    lines.append("")
    lines.append("| suite | case | metric | bpfscope | bpftrace | ratio | verdict |")
    lines.append("|---|---|---|---:|---:|---:|---|")
    for r in results:
        unit = r.get("unit", "")
        m = r["metric"] or "—"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        if m.endswith("slowdown_pct") or m == "slowdown_best_pct":
            a, b = r["bpfscope"]["median"], r["bpftrace"]["median"]
            if a is None or b is None or a <= 0 or b <= 0:
                ratio = "—"  # a ratio of a gain and a loss means nothing
        lines.append(f"| {SUITE_TITLES[r['suite']]} | {r['case']} | {m} | "
                     f"{fmt(r['bpfscope']['median'], unit)} | {fmt(r['bpftrace']['median'], unit)} | "
                     f"{ratio} | {verdict(r)} |")
    return "\n".join(lines) + "\n"


def update_readme(md: str) -> None:
    path = os.path.join(HERE, "README.md")
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    with open(path) as f:
        text = f.read()
    if begin not in text:
        sys.exit("bench/README.md has no results markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(head + begin + "\n" + md + end + tail)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per case (default 3; --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="1 round, smaller workloads")
    ap.add_argument("--only", default=",".join(SUITES), help=f"comma-separated suites: {','.join(SUITES)}")
    ap.add_argument("--cost-events", type=int, default=None, help="syscalls per in-kernel cost run (default 200000)")
    ap.add_argument("--rate-seconds", type=float, default=1.0, help="seconds of events per output-rate case (default 1)")
    ap.add_argument("--map-keys", type=int, default=100000, help="keys in the large map (default 100000)")
    ap.add_argument("--profile-rounds", type=int, default=None,
                    help="rounds of the profiler case (default: max(rounds, 5); it is noisy)")
    ap.add_argument("--spin-work", type=int, default=None,
                    help="arithmetic rounds per process in the profiler case (default 2e9, about 3 s)")
    ap.add_argument("--uprobes", type=int, default=None,
                    help="functions in the attach-at-scale binary (default 1000; --quick: 200)")
    ap.add_argument("--case", action="append", default=[], metavar="TEXT",
                    help="run only the cases whose name contains TEXT (repeatable; "
                         "e.g. --only cost --case 'count() by comm')")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--update-readme", action="store_true", help="write the table into bench/README.md")
    ap.add_argument("--bpfscope-src", default=None, metavar="DIR|REV",
                    help="benchmark bpfscope installed from this directory (holding pyproject.toml) or "
                         "this git revision (exported with git archive); default: the working tree")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install bpftrace")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: both tracers load BPF programs")
    only = [s.strip() for s in opts.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SUITES]
    if bad:
        sys.exit(f"unknown suite(s) {bad}; choose from {SUITES}")
    rounds = 1 if opts.quick and "--rounds" not in " ".join(sys.argv) else opts.rounds
    ensure_bpftrace(not opts.no_install)

    ctx = Ctx()
    ctx.verbose = opts.verbose
    ctx.cases = opts.case
    ctx.build_dir = tempfile.mkdtemp(prefix="bpfscope-bench-")
    ctx.workload = harness.build_workload(ctx.build_dir)
    # what is measured is the package installed as a user installs it
    src = harness.REPO
    if opts.bpfscope_src:
        src = opts.bpfscope_src
        if not os.path.isfile(os.path.join(src, "pyproject.toml")):
            rev = subprocess.run(["git", "rev-parse", "--short", src], capture_output=True, text=True,
                                 check=True, cwd=harness.REPO).stdout.strip()
            dest = os.path.join(ctx.build_dir, "bpfscope-src")
            os.makedirs(dest)
            arch = subprocess.run(["git", "archive", rev], capture_output=True,
                                  check=True, cwd=harness.REPO).stdout
            subprocess.run(["tar", "-x", "-C", dest], input=arch, check=True)
            ctx.bpfscope_rev = rev
            src = dest
        else:
            ctx.bpfscope_rev = os.path.abspath(src)
    print(f"installing bpfscope from {src} into a venv ...", file=sys.stderr)
    harness.BPFSCOPE_EXE = harness.install_bpfscope(os.path.abspath(src), ctx.build_dir)
    ctx.bpfscope_rev = getattr(ctx, "bpfscope_rev", None)
    ctx.cost_events = opts.cost_events or (50000 if opts.quick else 200000)
    info = machine_info(ctx.bpfscope_rev)
    print(json.dumps(info), file=sys.stderr)

    results: list = []
    t0 = time.monotonic()
    with BpfStats():
        if "startup" in only:
            run_suite("startup", suites.startup_scripts(), suites.startup_case, ctx, rounds, results)
        if "compile" in only:
            run_suite("compile", suites.compile_scripts((10, 100, 1000)), suites.compile_case, ctx, rounds, results)
        if "cost" in only:
            run_suite("cost", suites.cost_scripts(), suites.cost_case, ctx, rounds, results)
            annotate(results)
        if "rate" in only:
            rates = (10000, 20000, 50000, 100000, 200000, 500000, 0)
            cases = suites.rate_cases(rates, 0.25 if opts.quick else opts.rate_seconds,
                                      burst=100_000 if opts.quick else 1_000_000)
            run_suite("rate", cases, suites.rate_case, ctx, rounds, results)
            results += highest_lossless(results)
        if "bigmap" in only:
            n = opts.map_keys // 10 if opts.quick else opts.map_keys
            run_suite("bigmap", {f"{n:,} keys": n}, suites.bigmap_case, ctx, rounds, results)
        if "profile" in only:
            work = opts.spin_work or (500_000_000 if opts.quick else 2_000_000_000)
            case = f"profile:hz:99 {{ @[kstack, ustack, comm] = count(); }}, {os.cpu_count()} busy processes"
            ctx.profile_rounds = prounds = opts.profile_rounds or (rounds if opts.quick else max(rounds, 5))
            run_suite("profile", {case: work}, suites.profile_case, ctx, prounds, results)
            profile_derived(results)
        if "attach" in only:
            n = opts.uprobes or (200 if opts.quick else 1000)
            ctx.many = harness.build_many(ctx.build_dir, n)
            run_suite("attach", suites.attach_cases(n), suites.attach_case, ctx, rounds, results)
        if "debuginfo" in only:
            cases = suites.debuginfo_cases()
            if not cases:
                print("== debuginfo: skipped (no libc6-dbg debug file for libc)", file=sys.stderr)
            run_suite("debuginfo", cases, suites.debuginfo_case, ctx, rounds, results)
        if "unwind" in only:
            ctx.nofp = harness.build_workload_nofp(ctx.build_dir)
            work = opts.spin_work or (300_000_000 if opts.quick else 1_000_000_000)
            run_suite("unwind", suites.unwind_cases(work), suites.unwind_case, ctx, rounds, results)
    elapsed = time.monotonic() - t0
    shutil.rmtree(ctx.build_dir, ignore_errors=True)

    md = markdown(info, results, rounds, opts, getattr(ctx, "profile_rounds", None))
    os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump({"machine": info, "rounds": rounds, "quick": opts.quick, "elapsed_s": elapsed,
                   "metrics": {k: {"unit": u, "lower_is_better": lo, "description": d}
                               for k, (u, lo, d) in suites.METRICS.items()},
                   "results": results}, f, indent=1)
    with open(os.path.splitext(opts.json)[0] + ".md", "w") as f:
        f.write(md)
    if opts.update_readme:
        update_readme(md)
    print(md)
    print(f"({elapsed:.0f} s; JSON in {opts.json})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
