"""Stacks with source lines and inlined frames (show_debug_info, on by
default as in bpftrace 0.26) and build_id stacks, end to end: uprobes on
the test's own program, tests/elf/progs/inlstack.c (main -> [inlined]
outer -> [inlined] myclock -> mid -> leaf), built with gcc -g; the probe
on leaf sees main's frame at its call of mid, inside both inlined copies
(mid's own frame is skipped: at leaf's first instruction its frame
pointer is not pushed yet)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "elf" / "progs" / "inlstack.c"
ENTRY = re.compile(r"^(@\w*)\[(.*?)\]: (\d+)$", re.M | re.S)


def line_of(marker: str) -> int:
    for n, line in enumerate(SRC.read_text().splitlines(), 1):
        if marker in line:
            return n
    raise AssertionError(marker)


@pytest.fixture(scope="module")
def prog(tmp_path_factory, kernel):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test program")
    out = str(tmp_path_factory.mktemp("stackdbg") / "inlstack")
    subprocess.run([gcc, "-O1", "-g", "-fno-omit-frame-pointer", "-Wl,--build-id",
                    "-o", out, str(SRC)], check=True, capture_output=True)
    return out


def stacks(text: str, name: str = "@") -> dict[str, int]:
    return {k: int(v) for m, k, v in ENTRY.findall(text) if m == name}


def lines(key: str) -> list[str]:
    return [ln.strip() for ln in key.splitlines() if ln.strip()]


def _where(n: int) -> str:
    return re.escape(f"/{SRC.name}:{n}")


def test_ustack_has_inlined_frames_and_source_lines(e2e, prog):
    r = e2e.run_prog(f"uprobe:{prog}:leaf {{ @[ustack] = count(); }}", "-c", f"{prog} 3")
    (key, n), = stacks(r.stdout).items()
    assert n == 3
    f = lines(key)
    assert re.fullmatch(r"leaf\+0@.*/inlstack\.c:\d+", f[0]), f
    assert re.fullmatch(r"\[inlined\] myclock@.*" + _where(line_of("MYCLOCK_CALL")), f[1]), f
    assert re.fullmatch(r"\[inlined\] outer@.*" + _where(line_of("OUTER_CALL")), f[2]), f
    assert re.fullmatch(r"main\+\d+@.*" + _where(line_of("MAIN_CALL")), f[3]), f
    # printed with bpftrace's indent, as every frame
    assert "\n        [inlined] myclock@" in r.stdout


def test_perf_mode_labels_inlined_frames_at_their_address(e2e, prog):
    r = e2e.run_prog(f"uprobe:{prog}:leaf {{ @[ustack(perf)] = count(); }}",
                     "-c", f"{prog} 2")
    (key, n), = stacks(r.stdout).items()
    f = [ln.split("\t")[-1] for ln in key.splitlines() if ln.strip()]
    assert n == 2
    assert re.fullmatch(rf"[0-9a-f]+ leaf\+0 \({re.escape(prog)}\)", f[0]), f
    a1, a2, a3 = (x.split()[0] for x in f[1:4])
    assert a1 == a2 == a3, f
    assert f[1] == f"{a1} myclock (inlined)" and f[2] == f"{a1} outer (inlined)"
    assert re.fullmatch(rf"{a1} main\+\d+ \({re.escape(prog)}\)", f[3]), f
    assert "@" not in key  # perf mode shows no source lines


@pytest.mark.parametrize("how", ["config", "env"])
def test_show_debug_info_off_prints_as_before(e2e, prog, how, monkeypatch):
    script = f"uprobe:{prog}:leaf {{ @[ustack(3)] = count(); }}"
    if how == "config":
        script = "config = { show_debug_info = 0 } " + script
    else:
        monkeypatch.setenv("BPFTRACE_SHOW_DEBUG_INFO", "0")
    r = e2e.run_prog(script, "-c", f"{prog} 2")
    (key, n), = stacks(r.stdout).items()
    f = lines(key)
    assert n == 2 and f[0] == "leaf+0" and re.fullmatch(r"main\+\d+", f[1]), f


def test_profiles_keep_lines_and_pprof_groups_inlined_lines(e2e, prog, tmp_path):
    folded, pprof = tmp_path / "out.folded", tmp_path / "out.pb.gz"
    svg, speed = tmp_path / "out.svg", tmp_path / "out.speedscope.json"
    r = e2e.run_cli("-q", "--folded", str(folded), "--pprof", str(pprof),
                    "--flamegraph", str(svg), "--speedscope", str(speed), "-e",
                    f"uprobe:{prog}:leaf {{ @[ustack(2)] = count(); }}", "-c", f"{prog} 4")
    assert r.returncode == 0, r.stderr
    (line,) = folded.read_text().splitlines()
    stack, count = line.rsplit(" ", 1)
    parts = stack.split(";")
    assert count == "4"
    assert [re.sub(r"@.*", "", p) for p in parts] == \
        ["main", "[inlined] outer", "[inlined] myclock", "leaf"], parts
    assert parts[0].endswith(f"/{SRC.name}:{line_of('MAIN_CALL')}")
    # ustack(2): two addresses, four frames
    names = [f["name"] for f in json.loads(speed.read_text())["shared"]["frames"]]
    assert names == parts, names
    assert "[inlined] myclock@" in svg.read_text()
    data = gzip.decompress(pprof.read_bytes())
    from tests.output.test_pprof import PROFILE, decode
    p = decode(data, PROFILE)
    st = p["string_table"]
    funcs = {f["id"]: st[f["name"]] for f in p["function"]}
    assert all(st[f["filename"]].endswith(SRC.name) for f in p["function"])
    locs = {l["id"]: [(funcs[x["function_id"]], x["line"]) for x in l["line"]]
            for l in p["location"]}
    (sample,) = p["sample"]
    chain = [locs[i] for i in sample["location_id"]]
    assert chain[1] == [("myclock", line_of("MYCLOCK_CALL")), ("outer", line_of("OUTER_CALL")),
                        ("main", line_of("MAIN_CALL"))], chain
    assert chain[0][0][0] == "leaf" and sample["value"] == [4]


def test_build_id_stack_names_files_by_build_id(e2e, prog):
    from bpfscope.elf import ElfFile, SymbolTable
    with ElfFile(prog) as e:
        bid = e.build_id
    with SymbolTable(prog) as st:
        leaf = st.lookup_one("leaf").value
    r = e2e.run_prog(f"uprobe:{prog}:leaf {{ @[ustack(build_id, 2)] = count(); "
                     f"@n = len(ustack(build_id)); }}", "-c", f"{prog} 2")
    (key, n), = stacks(r.stdout).items()
    f = lines(key)
    assert n == 2
    # gcc lays a program's text out at file offset == address
    assert f[0] == f"{bid} {leaf:#04x}", f
    assert re.fullmatch(re.escape(bid) + r" 0x[0-9a-f]+", f[1]), f
    assert int(re.search(r"^@n: (\d+)$", r.stdout, re.M).group(1)) >= 3
    assert "\n" + f[0] + "\n" in r.stdout  # no indent


def test_build_id_is_for_user_stacks_only(e2e, prog):
    r = e2e.run_cli("-e", f"config = {{ stack_mode = build_id }} "
                          f"uprobe:{prog}:leaf {{ @[kstack] = count(); @u[ustack(1)] = count(); }}",
                    "-c", f"{prog} 1")
    assert r.returncode == 0, r.stderr
    assert ("WARNING: 'build_id' stack mode can only be used for ustack. "
            "Falling back to 'raw' mode.") in r.stderr
    assert re.search(r"^@u\[\n[0-9a-f]{40} 0x[0-9a-f]+\n\]: 1$", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("v", [4, 5], ids=["dwarf4", "dwarf5"])
def test_split_dwarf_attach_by_line_and_inlined_frames(e2e, kernel, tmp_path, v):
    # gcc -gsplit-dwarf: the rows stay in the skeleton's .debug_line, the
    # inlined copies and their call files are in the .dwo
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test program")
    subprocess.run([gcc, "-O1", "-g", f"-gdwarf-{v}", "-gsplit-dwarf",
                    "-fno-omit-frame-pointer", "-o", "inlstack", str(SRC)],
                   check=True, capture_output=True, cwd=tmp_path)
    assert [f for f in tmp_path.iterdir() if f.suffix == ".dwo"]
    prog = str(tmp_path / "inlstack")
    leaf = line_of("LEAF")
    r = e2e.run_prog(f"uprobe:{prog}@{SRC.name}:{leaf} {{ @[ustack] = count(); }}",
                     "-c", f"{prog} 2")
    (key, n), = stacks(r.stdout).items()
    f = lines(key)
    assert n == 2
    assert re.fullmatch(r"leaf\+\d+@.*" + _where(leaf), f[0]), f
    assert re.fullmatch(r"\[inlined\] myclock@.*" + _where(line_of("MYCLOCK_CALL")), f[1]), f
    assert re.fullmatch(r"\[inlined\] outer@.*" + _where(line_of("OUTER_CALL")), f[2]), f
    assert re.fullmatch(r"main\+\d+@.*" + _where(line_of("MAIN_CALL")), f[3]), f
