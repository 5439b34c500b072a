"""uprobe ``args`` by name and type from the traced program's DWARF, as
bpftrace 0.26 gives them: scalars, pointers dereferenced with ``->`` or
``.``, struct members that are strings, arrays and bitfields, casts to
the program's own structs (a struct the script defines wins), typed
``retval`` in uretprobes, ``-lv`` listing the parameters, from split
DWARF too, and from the DWARF cache on a second run. The program
(tests/elf/progs/dwargs.c, built with -g) is run by the test under the
trace."""

import os
import re
import shutil
import subprocess

import pytest

from bpfscope.elf import ElfFile

pytestmark = pytest.mark.usefixtures("kernel")

SRC = os.path.join(os.path.dirname(__file__), "..", "elf", "progs", "dwargs.c")


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = str(tmp_path_factory.mktemp("dwargs") / "dwargs")
    subprocess.run(["gcc", "-g", "-O1", "-o", out, SRC], check=True)
    return out


def traced(e2e, prog, script, *flags):
    """The trace's output once the program ran under it (the script exits)."""
    t = e2e.Trace(*flags, "-e", script)
    try:
        run = subprocess.run([prog, "50"], capture_output=True, timeout=30)
        assert run.returncode == 0
        out, err = t.finish(timeout=20)
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    assert t.returncode == 0, err
    return out.strip()


def test_scalars_and_a_pointer_by_name(e2e, prog):
    out = traced(e2e, prog, f'uprobe:{prog}:takes_ptr {{ printf("c = %c, n = %d\\n", '
                            f'args.c, *(args.n)); exit(); }}')
    assert out == "c = x, n = 13"
    out = traced(e2e, prog, f'uprobe:{prog}:takes_scalars {{ printf("%d %d %d %s %d\\n", '
                            f'args.count, args.sh, args.ok, str(args.s), args.small); exit(); }}')
    assert out == "9 5 1 s -2"


def test_args_as_a_record_with_enum_names(e2e, prog):
    out = traced(e2e, prog, f'uprobe:{prog}:takes_scalars {{ print(args); @[args.sh] = count(); '
                            f'exit(); }}')
    first, *rest = out.splitlines()
    assert re.fullmatch(r"\{ \.count = 9, \.sh = DARK, \.ok = true, \.s = \d+, "
                        r"\.small = -2 \}", first), out
    assert "@[DARK]: 1" in rest, out


def test_struct_members_through_pointers(e2e, prog):
    out = traced(e2e, prog, f'uprobe:{prog}:takes_nodes {{ '
                            f'printf("%d %s %d\\n", args.first.a, args.first->b, args.second->a); '
                            f'print(args.first.c); print(args.first->next->b); '
                            f'printf("%d %d\\n", args.first->flag, args.first->more); exit(); }}')
    assert out.splitlines() == ["123 hello 7", "[1,2,3]", "two", "1 5"]


def test_arrays_of_pointers_and_a_declared_variable_of_their_type(e2e, prog):
    out = traced(e2e, prog, f'uprobe:{prog}:takes_pair {{ let $x: struct Node *[2] = '
                            f'args.pair->nodes; printf("%d %d\\n", $x[0]->a, $x[1]->c[2]); '
                            f'exit(); }}')
    assert out == "123 6"


def test_casts_to_the_programs_structs_and_the_scripts_own_win(e2e, prog):
    out = traced(e2e, prog, f'uprobe:{prog}:takes_nodes {{ '
                            f'printf("%d\\n", ((struct Node *)arg0)->a); exit(); }}')
    assert out == "123"
    out = traced(e2e, prog, f'struct Node {{ int b; }} uprobe:{prog}:takes_nodes {{ '
                            f'printf("%d\\n", ((struct Node *)arg0)->b); exit(); }}')
    assert out == "123"  # the script's struct Node: b at offset 0


def test_registers_past_a_double_and_a_struct_by_value(e2e, prog):
    out = traced(e2e, prog, f'uprobe:{prog}:after_float {{ printf("%d %d\\n", args.k, args.m); '
                            f'exit(); }}')
    assert out == "11 12"


def test_a_parameter_in_an_sse_register_is_not_offered(e2e, prog):
    r = e2e.run_cli("--dry-run", "-e", f'uprobe:{prog}:after_float {{ print(args.d); }}')
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"ERROR: Can't find field 'd' in args of uprobe:{prog}:after_float" in r.stderr


def test_uretprobe_retval_is_typed(e2e, prog):
    out = traced(e2e, prog, f'uretprobe:{prog}:takes_scalars {{ printf("%d\\n", retval); '
                            f'exit(); }}')
    assert out == "128"


def test_list_parameters(e2e, prog):
    r = e2e.run_cli("-lv", f"uprobe:{prog}:takes_*")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"uprobe:{prog}:takes_nodes", "    struct Node* first", "    struct Node* second",
        f"uprobe:{prog}:takes_pair", "    struct Pair* pair",
        f"uprobe:{prog}:takes_ptr", "    int* n", "    char c",
        f"uprobe:{prog}:takes_scalars", "    counter_t count", "    enum shade sh",
        "    _Bool ok", "    const char* s", "    short int small"]
    r = e2e.run_cli("-l", f"uprobe:{prog}:takes_ptr")
    assert r.stdout.splitlines() == [f"uprobe:{prog}:takes_ptr"]


def test_without_debug_information_args_are_refused(e2e, prog, tmp_path):
    bare = str(tmp_path / "bare")
    subprocess.run(["gcc", "-O1", "-o", bare, SRC], check=True)
    r = e2e.run_cli("--dry-run", "-e", f'uprobe:{bare}:takes_ptr {{ print(args.c); }}')
    assert r.returncode != 0
    assert "The args builtin can not be used with 'uprobe' probes" in r.stderr, r.stderr


def _line(text):
    with open(SRC) as f:
        return next(n for n, line in enumerate(f, 1) if text in line)


def test_a_source_line_is_probed_where_its_code_starts(e2e, prog):
    """bpftrace 0.26's uprobe:PATH@FILE:LINE: a function's first line is
    the address of the function's probe; a line in the loop fires once a
    round, and several source probes attach together."""
    first = _line("int takes_ptr(")
    loop = _line("usleep(20000)")
    out = traced(e2e, prog, f'uprobe:{prog}@dwargs.c:{first} {{ @a = reg("ip"); }} '
                            f'uprobe:{prog}:takes_ptr {{ @b = reg("ip"); }} '
                            f'uprobe:{prog}@dwargs.c:{loop} {{ @n = count(); if (@n == 5) {{ '
                            f'printf("%d %d\\n", @a == @b, @a != 0); exit(); }} }}')
    assert out.splitlines()[0] == "1 1"


def test_source_lines_without_code_are_located_errors(e2e, prog):
    blank = _line("#include <unistd.h>") + 1
    r = e2e.run_cli("--dry-run", "-e", f"uprobe:{prog}@dwargs.c:{blank} {{ }}")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"ERROR: No code for dwargs.c:{blank} in {prog} (the nearest line with code is" \
        in r.stderr, r.stderr
    r = e2e.run_cli("--dry-run", "-e", f"uprobe:{prog}@nothere.c:3 {{ }}")
    assert f"ERROR: No source file nothere.c in the line table of {prog}" in r.stderr
    r = e2e.run_cli("--dry-run", "-e", f"uretprobe:{prog}@dwargs.c:{blank} {{ }}")
    assert "ERROR: uretprobes cannot be attached to a source line" in r.stderr


@pytest.mark.parametrize("version", [4, 5])
def test_args_from_split_dwarf(e2e, tmp_path, version):
    # gcc -gsplit-dwarf: the program holds skeleton units, the types are
    # in the .dwo beside it
    out = str(tmp_path / "split")
    subprocess.run(["gcc", "-g", f"-gdwarf-{version}", "-gsplit-dwarf", "-O1", "-o", out, SRC],
                   check=True, cwd=str(tmp_path))
    assert any(f.endswith(".dwo") for f in os.listdir(tmp_path))
    got = traced(e2e, out, f'uprobe:{out}:takes_scalars {{ print(args); exit(); }}')
    assert re.fullmatch(r"\{ \.count = 9, \.sh = DARK, \.ok = true, \.s = \d+, "
                        r"\.small = -2 \}", got), got
    r = e2e.run_cli("-lv", f"uprobe:{out}:takes_ptr")
    assert r.stdout.splitlines()[1:] == ["    int* n", "    char c"], r.stdout


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


def test_the_second_run_reads_args_from_the_cache(e2e, tmp_path, monkeypatch):
    """The DWARF disk cache: a first trace indexes the program's DWARF and
    keeps it (elf.dwarfcache); a second one, with .debug_info wiped out
    (same size and mtime, so the same cache key), can only name and type
    args, list them with -lv and find the inlined copies from the cache."""
    prog = str(tmp_path / "dwargs")
    subprocess.run(["gcc", "-g", "-O1", "-o", prog, SRC], check=True)
    cache = tmp_path / "cache"
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(cache))
    script = (f'uprobe:{prog}:takes_scalars {{ print(args); printf("%d %s\\n", args.small, '
              f'str(args.s)); exit(); }}')
    first = traced(e2e, prog, script)
    assert re.fullmatch(r"\{ \.count = 9, \.sh = DARK, \.ok = true, \.s = \d+, "
                        r"\.small = -2 \}\n-2 s", first), first
    listed = e2e.run_cli("-lv", f"uprobe:{prog}:takes_scalars")
    assert listed.returncode == 0, listed.stderr
    kinds = {n.split("-")[0] for n in os.listdir(cache)}
    assert {"func", "inlsites"} <= kinds, kinds   # inlsites: elf.inlinesites

    wipe_debug_info(prog)
    second = traced(e2e, prog, script)
    assert re.sub(r"\.s = \d+", "", second) == re.sub(r"\.s = \d+", "", first)
    again = e2e.run_cli("-lv", f"uprobe:{prog}:takes_scalars")
    assert again.stdout == listed.stdout and "counter_t count" in again.stdout

    # without the cache the wiped DWARF has no args to give
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(tmp_path / "empty"))
    r = e2e.run_cli("-lv", f"uprobe:{prog}:takes_scalars")
    assert "counter_t count" not in r.stdout
