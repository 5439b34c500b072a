"""--uprobe-inlined end to end: the real CLI with -c counts calls of a
function at its inlined copies (tests/attach/progs/inlined.c at -O2 -g),
the same counts the -O0 build gives without the option."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "attach" / "progs" / "inlined.c"


@pytest.fixture(scope="module")
def builds(tmp_path_factory, kernel):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test program")
    d = tmp_path_factory.mktemp("inlined_e2e")
    out = {}
    for name, flags in (("o2g", ["-O2", "-g"]), ("o0g", ["-O0", "-g"])):
        out[name] = str(d / f"inl_{name}")
        subprocess.run([gcc, *flags, "-o", out[name], str(SRC)], check=True,
                       capture_output=True)
    return out


def _counts(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"^(@\S*): (\d+)$", stdout, re.M))


def _script(prog: str) -> str:
    return (f"uprobe:{prog}:compute {{ @compute = count(); }} "
            f"uprobe:{prog}:helper {{ @helper = count(); }}")


def test_inlined_sites_are_counted(e2e, builds, no_leaks):
    prog = builds["o2g"]
    r = e2e.run_cli("--uprobe-inlined", "-e", _script(prog), "-c", f"{prog} 7")
    assert r.returncode == 0, r.stderr
    # compute: once in main, 7 times in run's loop; helper: inlined once in
    # main, once through its address
    assert _counts(r.stdout) == {"@compute": "8", "@helper": "2"}
    assert "compute is inlined into 2 callers (" in r.stderr
    assert "not reliable at inlined sites" in r.stderr


def test_same_counts_at_o0_without_the_option(e2e, builds):
    prog = builds["o0g"]
    r = e2e.run_cli("-e", _script(prog), "-c", f"{prog} 7")
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr
    assert _counts(r.stdout) == {"@compute": "8", "@helper": "2"}


def test_without_the_option_only_the_copy_fires(e2e, builds):
    prog = builds["o2g"]
    r = e2e.run_cli("-e", f"uprobe:{prog}:helper {{ @helper = count(); }}",
                    "-c", f"{prog} 7")
    assert r.returncode == 0, r.stderr
    assert "fires only for calls that were not inlined" in r.stderr
    assert _counts(r.stdout) == {"@helper": "1"}


def test_fully_inlined_function_is_an_error(e2e, builds):
    prog = builds["o2g"]
    r = e2e.run_cli("-e", f"uprobe:{prog}:compute {{ @ = count(); }}", "-c", f"{prog} 1")
    assert r.returncode != 0
    assert "so a probe on it would never fire" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("how", ["block", "env"])
def test_probe_inline_config_does_what_the_option_does(e2e, builds, how, monkeypatch):
    prog = builds["o2g"]
    script = _script(prog)
    if how == "block":
        script = "config = { probe_inline = 1 } " + script
    else:
        monkeypatch.setenv("BPFTRACE_PROBE_INLINE", "1")
    r = e2e.run_cli("-e", script, "-c", f"{prog} 7")
    assert r.returncode == 0, r.stderr
    assert _counts(r.stdout) == {"@compute": "8", "@helper": "2"}
