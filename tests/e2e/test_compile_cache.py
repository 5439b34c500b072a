"""The CLI's compile cache (bpfscope.compilecache): a second run of the
same script loads the compile the first stored, and runs as the first did
(its aggregations, printf and maps)."""

import os
import pickle
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

SCRIPT = 'BEGIN { @c = count(); @h = hist(3); @s["k"] = sum(4); printf("x %d\\n", 1); exit(); }'


def test_a_second_run_loads_the_first_runs_compile(e2e, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "BPFSCOPE_COMPILE_CACHE"}
    env["XDG_CACHE_HOME"] = str(tmp_path)

    def run():
        r = subprocess.run([*e2e.CLI, "-q", "-e", SCRIPT], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        return r.stdout
    first = run()
    assert first.startswith("x 1\n") and "@c: 1" in first and '@s[k]: 4' in first
    [name] = os.listdir(tmp_path / "bpfscope" / "compile")
    assert run() == first
    # what the second run ran is what the cache held
    path = tmp_path / "bpfscope" / "compile" / name
    head, _, body = path.read_bytes().partition(b"\n")
    script = pickle.loads(body)
    next(e for e in script.events.values() if e.kind == "printf").fmt = "cached %d\n"
    path.write_bytes(head + b"\n" + pickle.dumps(script))
    assert run() == first.replace("x 1\n", "cached 1\n")
