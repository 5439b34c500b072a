"""The DWARF disk cache end to end: a first trace of a program built with
-g indexes its DWARF and keeps it (elf.dwarfcache); a second one, with the
program's .debug_info wiped out (same size, same mtime, so the same cache
key), can only name and type ``args``, list them with -lv and find the
inlined copies from the cache, and gives the same output."""

import os
import re
import shutil
import subprocess

import pytest

from bpfscope.elf import ElfFile

pytestmark = pytest.mark.usefixtures("kernel")

SRC = os.path.join(os.path.dirname(__file__), "..", "elf", "progs", "dwargs.c")


@pytest.fixture
def prog(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = str(tmp_path / "dwargs")
    subprocess.run(["gcc", "-g", "-O1", "-o", out, SRC], check=True)
    return out


def traced(e2e, prog, script):
    t = e2e.Trace("-e", script)
    try:
        run = subprocess.run([prog, "50"], capture_output=True, timeout=30)
        assert run.returncode == 0
        out, err = t.finish(timeout=20)
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    assert t.returncode == 0, err
    return out.strip(), err


def wipe_debug_info(path):
    """Zero .debug_info in place, keeping the file's size and mtime."""
    st = os.stat(path)
    with ElfFile(path) as e:
        sec = e.section(".debug_info")
        off, size = sec.offset, sec.size
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(b"\0" * size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_the_second_run_reads_args_from_the_cache(e2e, prog, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(cache))
    script = (f'uprobe:{prog}:takes_scalars {{ print(args); printf("%d %s\\n", args.small, '
              f'str(args.s)); exit(); }}')
    first, _ = traced(e2e, prog, script)
    assert re.fullmatch(r"\{ \.count = 9, \.sh = DARK, \.ok = true, \.s = \d+, "
                        r"\.small = -2 \}\n-2 s", first), first
    listed = e2e.run_cli("-lv", f"uprobe:{prog}:takes_scalars")
    assert listed.returncode == 0, listed.stderr
    kinds = {n.split("-")[0] for n in os.listdir(cache)}
    assert {"func", "inline"} <= kinds, kinds

    wipe_debug_info(prog)
    second, err = traced(e2e, prog, script)
    assert re.sub(r"\.s = \d+", "", second) == re.sub(r"\.s = \d+", "", first)
    again = e2e.run_cli("-lv", f"uprobe:{prog}:takes_scalars")
    assert again.stdout == listed.stdout and "counter_t count" in again.stdout

    # without the cache the wiped DWARF has no args to give
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(tmp_path / "empty"))
    r = e2e.run_cli("-lv", f"uprobe:{prog}:takes_scalars")
    assert "counter_t count" not in r.stdout
