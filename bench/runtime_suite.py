#!/usr/bin/env python3
"""Run case files in the format of bpftrace's runtime test suite against a
bpfscope command and report the pass rate per file.

    python3 bench/runtime_suite.py BPFSCOPE WORKDIR CASEFILE... [-k NAME] [-v]

BPFSCOPE is the command to run (``.venv/bin/bpfscope``); it replaces
``{{BPFTRACE}}`` (and a leading ``bpftrace``) in RUN lines, and PROG lines
run as ``BPFSCOPE -e PROG`` (``-f json`` when the case checks EXPECT_JSON).
Cases run in WORKDIR, which holds what they name: ``testprogs/`` (the
programs compiled there), ``runtime/scripts/`` and ``runtime/outputs/``.
The case files and those programs are not part of bpfscope: fetch the ones
you measure against into a directory of your own.

A PROG or EXPECT continues on the lines indented past its key (the
indent is dropped, the lines joined with newlines).

Read per case: NAME, PROG or RUN, EXPECT (a substring, or failing that a
regular expression: older files wrote regexes there), EXPECT_REGEX,
EXPECT_NONE, EXPECT_REGEX_NONE, EXPECT_JSON (a .json or .ndjson file whose
records must all be printed), WILL_FAIL, RETURN_CODE, TIMEOUT, ENV,
BEFORE (started first; ``{{BEFORE_PID}}`` is its pid), AFTER (started
once the command says its probes are attached: the
``__BPFTRACE_NOTIFY_PROBES_ATTACHED`` line, or "Attached"; ``{{PID}}`` is
the command's pid), REQUIRES (a shell test), REQUIRES_FEATURE, ARCH.

Skipped, and counted apart: cases with kprobe, kretprobe, fentry, fexit or
kfunc probes or features (for a kernel that has none), of another
architecture, whose REQUIRES fails, and those that would touch state
shared with other users of the machine (clearing the trace buffer,
pkill by name). A timeout (3 x TIMEOUT + 10 s) sends SIGINT and checks
what was printed.
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

KPROBE_RE = re.compile(r"(^|[\s,{}'\"])(kprobe|kretprobe|k|kr|fentry|fexit|f|fr|kfunc|kretfunc):")
ARCH = os.uname().machine


def parse(path):
    cases, cur, prev = [], None, ""
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("#") or not line.strip():
            continue
        # a line indented past the previous key continues that PROG or
        # EXPECT: the indent (the key's width plus one) is dropped
        if cur is not None and prev in ("PROG", "EXPECT") and line[:len(prev) + 1].isspace():
            rest = line[len(prev) + 1:]
            if prev == "PROG":
                cur["PROG"] += "\n" + rest
            else:
                k, v = cur["EXPECT"][-1]
                cur["EXPECT"][-1] = (k, v + "\n" + rest)
            continue
        key, _, val = line.partition(" ")
        prev = key
        if key == "NAME":
            cur = {"NAME": val, "EXPECT": [], "REQ": [], "FEAT": [], "ENV": {}}
            cases.append(cur)
        elif cur is None:
            continue
        elif key in ("EXPECT", "EXPECT_REGEX", "EXPECT_NONE", "EXPECT_REGEX_NONE", "EXPECT_JSON"):
            cur["EXPECT"].append((key, val.strip()))
        elif key == "REQUIRES":
            cur["REQ"].append(val)
        elif key == "REQUIRES_FEATURE":
            cur["FEAT"] += val.split()
        elif key == "ENV":
            for kv in shlex.split(val):
                k, _, v = kv.partition("=")
                cur["ENV"][k] = v
        elif key in ("PROG", "RUN", "BEFORE", "AFTER", "TIMEOUT", "ARCH", "RETURN_CODE",
                     "MIN_KERNEL", "CLEANUP", "SKIP_SHARED", "SETUP"):
            cur[key] = val
        elif key == "WILL_FAIL":
            cur["WILL_FAIL"] = True
    return cases


def skip_reason(c):
    text = c.get("PROG", "") + " " + c.get("RUN", "")
    if KPROBE_RE.search(text) or any(f in ("kfunc", "fentry", "kprobe_multi", "kprobe_session", "dpath", "skboutput") for f in c["FEAT"]):
        return "kprobe/fentry"
    if "ARCH" in c and ARCH not in c["ARCH"].split("|"):
        return "arch"
    if "SKIP_SHARED" in c or "pkill" in c.get("AFTER", "") or "pkill" in c.get("RUN", ""):
        return "shared-state"
    for r in c["REQ"]:
        if subprocess.run(r, shell=True, capture_output=True).returncode != 0:
            return "requires"
    return None


def run_case(c, bps, workdir, verbose):
    env = dict(os.environ, BPFTRACE_TEST="1", __BPFTRACE_NOTIFY_PROBES_ATTACHED="1", **c["ENV"])
    if "PROG" in c:
        jf = " -f json" if any(k == "EXPECT_JSON" for k, _ in c["EXPECT"]) else ""
        cmd = f"{bps}{jf} -e {shlex.quote(c['PROG'])}"
    else:
        cmd = c["RUN"].replace("{{BPFTRACE}}", bps)
        cmd = re.sub(r"(^|;\s*)bpftrace ", lambda m: m.group(1) + bps + " ", cmd)
    before = None
    if "BEFORE" in c:
        # exec: {{BEFORE_PID}} is the program's pid, not a shell's
        before = subprocess.Popen("exec " + c["BEFORE"], shell=True, cwd=workdir,
                                  start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        cmd = cmd.replace("{{BEFORE_PID}}", str(before.pid))
    timeout = float(c.get("TIMEOUT", 5)) * 3 + 10
    p = subprocess.Popen(cmd, shell=True, executable="/bin/bash", cwd=workdir, env=env, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    after_done = "AFTER" not in c
    after = None
    os.set_blocking(p.stdout.fileno(), False)
    start = time.time()
    timed_out = False
    while True:
        try:
            chunk = p.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            out += chunk
        if not after_done and (b"__BPFTRACE_NOTIFY_PROBES_ATTACHED" in out or b"Attached" in out):
            after_done = True
            after = subprocess.Popen(c["AFTER"].replace("{{PID}}", str(p.pid)), shell=True,
                                     executable="/bin/bash", cwd=workdir, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if p.poll() is not None:
            rest = p.stdout.read()
            if rest:
                out += rest
            break
        if time.time() - start > timeout:
            timed_out = True
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            try:
                out += p.stdout.read() or b""
            except Exception:
                pass
            break
        time.sleep(0.02)
    for q in (after, before):   # the programs the case started, by their own pids
        if q is not None:
            try:
                os.killpg(q.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            q.wait()
    text = out.decode("utf-8", "replace")
    text = text.replace("__BPFTRACE_NOTIFY_PROBES_ATTACHED\n", "")
    why = []
    for kind, val in c["EXPECT"]:
        if kind == "EXPECT":
            ok = val in text
            if not ok:
                try:
                    ok = re.search(val, text, re.M) is not None
                except re.error:
                    pass
            if not ok:
                why.append(f"missing: {val}")
        elif kind == "EXPECT_REGEX":
            if not re.search(val, text, re.M):
                why.append(f"no match: {val}")
        elif kind == "EXPECT_NONE":
            if val in text:
                why.append(f"unexpected: {val}")
        elif kind == "EXPECT_REGEX_NONE":
            if re.search(val, text, re.M):
                why.append(f"unexpected match: {val}")
        elif kind == "EXPECT_JSON":
            raw = open(os.path.join(workdir, val)).read()
            if val.endswith(".ndjson"):
                want = [json.loads(l) for l in raw.splitlines() if l.strip()]
            else:
                want = [json.loads(raw)]
            got = []
            for l in text.splitlines():
                try:
                    o = json.loads(l)
                except ValueError:
                    continue
                if isinstance(o, dict) and o.get("type") in ("map", "hist", "stats", "value", "lhist"):
                    got.append(o)
            if any(w not in got for w in want):
                why.append(f"json differs: {val}: got {got[:3]}")
    rc = p.returncode
    if "RETURN_CODE" in c:
        if rc != int(c["RETURN_CODE"]):
            why.append(f"rc {rc} != {c['RETURN_CODE']}")
    elif c.get("WILL_FAIL"):
        if rc == 0:
            why.append("expected failure, rc 0")
    elif rc != 0 and not timed_out:
        why.append(f"rc {rc}")
    if timed_out and not c["EXPECT"]:
        why.append("timeout")
    return why, text


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    filt = None
    if "-k" in args:
        i = args.index("-k")
        filt = args[i + 1]
        del args[i:i + 2]
    bps, workdir, files = args[0], args[1], args[2:]
    total = {"pass": 0, "fail": 0, "skip": 0}
    for f in files:
        cs = parse(f)
        stat = {"pass": 0, "fail": 0}
        skips = {}
        for c in cs:
            if filt and filt not in c["NAME"]:
                continue
            r = skip_reason(c)
            if r:
                skips[r] = skips.get(r, 0) + 1
                continue
            why, text = run_case(c, bps, workdir, verbose)
            if why:
                stat["fail"] += 1
                print(f"FAIL {os.path.basename(f)}: {c['NAME']}: {'; '.join(why)}")
                if verbose:
                    print("   | " + "\n   | ".join(text.splitlines()[-15:]))
            else:
                stat["pass"] += 1
                if verbose:
                    print(f"PASS {os.path.basename(f)}: {c['NAME']}")
        n = stat["pass"] + stat["fail"]
        ns = sum(skips.values())
        pct = 100.0 * stat["pass"] / n if n else 0
        print(f"== {os.path.basename(f)}: {stat['pass']}/{n} pass ({pct:.0f}%), skipped {ns} {skips}", flush=True)
        total["pass"] += stat["pass"]; total["fail"] += stat["fail"]; total["skip"] += ns
    n = total["pass"] + total["fail"]
    print(f"== TOTAL: {total['pass']}/{n} pass ({100.0*total['pass']/max(n,1):.1f}%), skipped {total['skip']}")


if __name__ == "__main__":
    main()
