"""Split DWARF 5 in a .dwp package, end to end: tests/elf/progs/inlstack.c
built with gcc -gdwarf-5 -gsplit-dwarf, its .dwo packed into prog.dwp
(binutils' dwp where it can; it crashes on DWARF 5 units in binutils 2.40,
and then the package is made of the .dwo and a one-row .debug_cu_index)
and the .dwo removed. A uprobe attached by source line (PATH@FILE:LINE)
fires, and its stack has the inlined frames only the split unit in the
package describes, with their lines."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "elf" / "progs" / "inlstack.c"


def _line(marker: str) -> int:
    return next(n for n, t in enumerate(SRC.read_text().splitlines(), 1) if marker in t)


def _package(prog: str, dwo: str) -> str:
    """prog.dwp: by dwp, else the .dwo with a .debug_cu_index added."""
    out = prog + ".dwp"
    if shutil.which("dwp"):
        r = subprocess.run(["dwp", "-e", prog, "-o", out], capture_output=True)
        if r.returncode == 0 and os.path.getsize(out) > 0:
            return "dwp"
    if shutil.which("objcopy") is None:
        pytest.skip("neither dwp nor objcopy can make a DWARF 5 package here")
    from bpfscope.elf import ElfFile
    from bpfscope.elf.dwarf import InlineIndex
    dwo_id = InlineIndex(prog).skeletons[0].dwo_id
    with ElfFile(dwo) as e:
        cols = [(c, e.section(n).size) for c, n in (
            (1, ".debug_info.dwo"), (3, ".debug_abbrev.dwo"),
            (6, ".debug_str_offsets.dwo"), (8, ".debug_rnglists.dwo"))
            if e.section(n) is not None]
    ids, sizes = [c for c, _ in cols], [s for _, s in cols]
    k = len(cols)
    # version 5, k columns, 1 unit, 2 hash slots; the unit in slot 0
    blob = struct.pack("<HHIII", 5, 0, k, 1, 2) + struct.pack("<QQII", dwo_id, 0, 1, 0)
    blob += struct.pack(f"<{k}I{k}I{k}I", *ids, *([0] * k), *sizes)
    idx = prog + ".cuindex"
    Path(idx).write_bytes(blob)
    subprocess.run(["objcopy", f"--add-section=.debug_cu_index={idx}", dwo, out],
                   check=True, capture_output=True)
    return "objcopy"


@pytest.fixture(scope="module")
def prog(tmp_path_factory, kernel):
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build the test program")
    d = tmp_path_factory.mktemp("dwp")
    out = str(d / "inlstack")
    subprocess.run(["gcc", "-O1", "-gdwarf-5", "-gsplit-dwarf", "-fno-omit-frame-pointer",
                    "-o", out, str(SRC)], check=True, capture_output=True, cwd=str(d))
    dwos = [str(d / f) for f in os.listdir(d) if f.endswith(".dwo")]
    assert len(dwos) == 1, dwos
    _package(out, dwos[0])
    os.unlink(dwos[0])
    return out


def test_attach_by_source_line_with_inlined_frames_from_the_dwp(e2e, prog):
    leaf = _line("LEAF")
    r = e2e.run_prog(f"uprobe:{prog}@inlstack.c:{leaf} {{ @[ustack] = count(); }}",
                     "-c", f"{prog} 3")
    assert r.returncode == 0, r.stderr
    m = re.search(r"@\[(.*?)\]: (\d+)", r.stdout, re.S)
    assert m and m.group(2) == "3", r.stdout
    frames = [f.strip() for f in m.group(1).splitlines() if f.strip()]
    assert re.fullmatch(rf"leaf\+\d+@.*inlstack\.c:{leaf}", frames[0]), frames
    want = [rf"\[inlined\] myclock@.*inlstack.c:{_line('MYCLOCK_CALL')}",
            rf"\[inlined\] outer@.*inlstack.c:{_line('OUTER_CALL')}",
            rf"main\+\d+@.*inlstack.c:{_line('MAIN_CALL')}"]
    got = [f for f in frames if not f.startswith("mid")][1:4]
    assert all(re.fullmatch(w, g) for w, g in zip(want, got)), frames


def test_a_line_with_no_code_is_a_located_error(e2e, prog):
    r = e2e.run_cli("--dry-run", "-e", f"uprobe:{prog}@inlstack.c:1 {{ }}")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "stdin:1:" in r.stderr, r.stderr
