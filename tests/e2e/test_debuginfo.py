"""Stripped programs traced through their separate debug files, end to end:
a test program built with -g, split with ``objcopy --only-keep-debug`` and
``strip --strip-all``, its debug file put in a temporary directory given
with ``--debuginfo`` (by build-id) or named by ``.gnu_debuglink`` next to
it; uprobes by function name and wildcard attach and fire, ustack frames
and usym() are symbolized as for the unstripped program, args by name and
source-line probes read its DWARF there. And Debian's
libc6-dbg: ``start_thread`` (only in the debug file's .symtab) is probed
in a thread the test program creates, and a stack through libc shows
``start_thread+N``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"

SRC = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
volatile long sink;
__attribute__((noinline)) static void dbg_leaf(int v) { sink += v; asm volatile(""); }
__attribute__((noinline)) static void dbg_mid(int v) { dbg_leaf(v); sink++; }
__attribute__((noinline)) static void *dbg_thread(void *a) { dbg_mid(7); return a; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  for (int i = 0; i < n; i++) dbg_mid(i);
  if (argc > 2) {  /* one thread: start_thread runs once, in this process */
    pthread_t t;
    if (pthread_create(&t, NULL, dbg_thread, NULL)) return 1;
    pthread_join(t, NULL);
  }
  printf("%ld\n", sink);
  return 0;
}
"""

ENTRY = re.compile(r"^(@\w*)\[(.*?)\]: (\d+)$", re.S | re.M)


def _run(*cmd, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, f"{cmd}: {r.stderr}"


def _build_id(path: str) -> str:
    from bpfscope.elf import ElfFile
    with ElfFile(path) as e:
        return e.build_id


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    """(stripped program, --debuginfo dir holding its debug file by
    build-id, stripped program with a .gnu_debuglink to a file beside it)."""
    for t in ("gcc", "objcopy", "strip"):
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed")
    d = tmp_path_factory.mktemp("debuginfo")
    src, full = d / "dbgprog.c", str(d / "full")
    src.write_text(SRC)
    _run("gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-pthread", "-Wl,--build-id",
         "-o", full, str(src))
    bid = _build_id(full)
    root = d / "dbg"
    (root / ".build-id" / bid[:2]).mkdir(parents=True)
    _run("objcopy", "--only-keep-debug", full,
         str(root / ".build-id" / bid[:2] / (bid[2:] + ".debug")))
    stripped = str(d / "dbgprog")
    _run("strip", "--strip-all", "-o", stripped, full)
    linkdir = d / "linked"
    linkdir.mkdir()
    _run("objcopy", "--only-keep-debug", full, str(linkdir / "dbgprog.debug"))
    linked = str(linkdir / "dbgprog")
    _run("objcopy", "--add-gnu-debuglink=dbgprog.debug", stripped, linked, cwd=str(linkdir))
    return stripped, str(root), linked


def entries(text: str, name: str = "@") -> dict[str, int]:
    return {k: int(v) for m, k, v in ENTRY.findall(text) if m == name}


def frames(key: str) -> list[str]:
    """The frames of a printed stack without their source lines (the
    debug info found gives them: show_debug_info is on by default)."""
    return [ln.strip().split("@", 1)[0] for ln in key.splitlines() if ln.strip()]


def lines_of(key: str) -> list[str]:
    """The source file and line of each frame ('' where none)."""
    return [ln.strip().partition("@")[2] for ln in key.splitlines() if ln.strip()]


def test_stripped_program_alone_has_no_such_function(e2e, prog):
    stripped, _root, _ = prog
    r = e2e.run_cli("-e", f"uprobe:{stripped}:dbg_leaf {{ }}", "-c", f"{stripped} 1")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"ERROR: Could not resolve symbol: {stripped}:dbg_leaf" in r.stderr


def test_probe_by_name_and_ustack_through_build_id(e2e, prog):
    stripped, root, _ = prog
    r = e2e.run_prog(f"uprobe:{stripped}:dbg_leaf {{ @[ustack] = count(); "
                     f"@u[usym(reg(\"ip\"))] = count(); }}",
                     "--debuginfo", root, "-c", f"{stripped} 3")
    got = entries(r.stdout)
    assert len(got) == 1 and list(got.values()) == [3]
    f = frames(next(iter(got)))
    assert f[:3] == ["dbg_leaf+0", "dbg_mid+" + f[1].split("+")[1], f[2]]
    assert re.fullmatch(r"dbg_mid\+\d+", f[1]) and re.fullmatch(r"main\+\d+", f[2]), f
    # the program's source lines come from its debug file too
    where = lines_of(next(iter(got)))[:3]
    assert all(re.fullmatch(r".*/dbgprog\.c:\d+", w) for w in where), where
    leaf = next(i for i, ln in enumerate(SRC.splitlines(), 1) if "dbg_leaf(int v)" in ln)
    assert int(where[0].rsplit(":", 1)[1]) in (leaf, leaf + 1), where
    assert entries(r.stdout, "@u") == {"dbg_leaf": 3}


def test_wildcard_through_the_debug_file(e2e, prog):
    stripped, root, _ = prog
    r = e2e.run_prog(f"uprobe:{stripped}:dbg_* {{ @[probe] = count(); }}",
                     "--debuginfo", root, "-c", f"{stripped} 2")
    assert entries(r.stdout) == {f"uprobe:{stripped}:dbg_leaf": 2,
                                 f"uprobe:{stripped}:dbg_mid": 2}


def test_args_and_source_line_through_the_debug_file(e2e, prog):
    # DWARF of the stripped program comes from the debug file too
    stripped, root, _ = prog
    line = next(i for i, ln in enumerate(SRC.splitlines(), 1) if "dbg_leaf(int v)" in ln)
    r = e2e.run_prog(f"uprobe:{stripped}:dbg_leaf {{ @[args.v] = count(); }} "
                     f"uprobe:{stripped}@dbgprog.c:{line} {{ @l = count(); }}",
                     "--debuginfo", root, "-c", f"{stripped} 3")
    assert entries(r.stdout) == {"0": 1, "1": 1, "2": 1}
    assert "@l: 3" in r.stdout


def test_listing_through_the_debug_file(e2e, prog):
    stripped, root, _ = prog
    r = e2e.run_cli("-l", f"uprobe:{stripped}:dbg_*", "--debuginfo", root)
    assert r.returncode == 0, r.stderr
    assert {f"uprobe:{stripped}:{f}" for f in ("dbg_leaf", "dbg_mid", "dbg_thread")} \
        <= set(r.stdout.split())


def test_debuglink_beside_the_file(e2e, prog):
    _, _, linked = prog
    r = e2e.run_prog(f"uprobe:{linked}:dbg_leaf {{ @[ustack(3)] = count(); }}",
                     "-c", f"{linked} 2")
    got = entries(r.stdout)
    assert list(got.values()) == [2]
    f = frames(next(iter(got)))
    assert f[0] == "dbg_leaf+0" and f[1].startswith("dbg_mid+") and f[2].startswith("main+")


def test_debuginfo_must_be_a_directory(e2e, prog, tmp_path):
    stripped, _, _ = prog
    r = e2e.run_cli("--debuginfo", str(tmp_path / "none"), "-e", "BEGIN { exit(); }")
    assert r.returncode == 1
    assert r.stderr == f"ERROR: --debuginfo {tmp_path / 'none'}: no such directory\n"


def _libc_dbg():
    from bpfscope.elf import ElfFile, find_debug_file
    if not os.path.exists(LIBC):
        pytest.skip(f"no {LIBC} here")
    with ElfFile(LIBC) as e:
        if e.has_symtab:
            pytest.skip(f"{LIBC} is not stripped here")
        if find_debug_file(e) is None:
            pytest.skip("libc6-dbg is not installed (.ci/run installs it)")


def test_libc_start_thread_through_libc6_dbg(e2e, prog):
    _libc_dbg()
    stripped, root, _ = prog
    # -c: the probe fires only in the test's own program, whose one thread
    # is the only start_thread call
    r = e2e.run_prog(f"uprobe:{LIBC}:start_thread {{ @[probe] = count(); }} "
                     f"uprobe:{stripped}:dbg_leaf /tid != pid/ {{ @s[ustack] = count(); }}",
                     "--debuginfo", root, "-c", f"{stripped} 1 thread")
    assert entries(r.stdout) == {f"uprobe:{LIBC}:start_thread": 1}
    stacks = entries(r.stdout, "@s")
    assert list(stacks.values()) == [1]
    f = frames(next(iter(stacks)))
    assert f[0] == "dbg_leaf+0" and f[1].startswith("dbg_mid+"), f
    assert f[2].startswith("dbg_thread+"), f
    assert re.fullmatch(r"start_thread\+\d+", f[3]), f


def test_api_debuginfo(prog):
    from bpfscope import api
    from bpfscope.elf import set_search_dirs
    from bpfscope.errors import BpfscopeError
    stripped, root, _ = prog
    text = f"uprobe:{stripped}:dbg_leaf {{ }}"
    try:
        set_search_dirs(())
        with pytest.raises(BpfscopeError, match="Could not resolve symbol"):
            api.compile_script(text)
        script = api.compile_script(text, debuginfo=[root])
        assert [p.probe.name for p in script.programs] == [f"uprobe:{stripped}:dbg_leaf"]
    finally:
        set_search_dirs(())
