"""DWARF that dwz moved to a supplementary file (Debian's -dbgsym packages
run it: /usr/lib/debug/.dwz/...): two programs built with -g, their common
DWARF moved with ``dwz -m``; the inline index follows .gnu_debugaltlink to
the supplement (by its name, or by build-id under a --debuginfo directory)
and finds the inlined copies of the unprocessed build; without it the
checker says it cannot tell."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpfscope.elf import ElfFile, debugfile
from bpfscope.elf.debugfile import altlink
from bpfscope.elf.dwarf import InlineIndex

SRC = os.path.join(os.path.dirname(__file__), "..", "attach", "progs", "inlined.c")


@pytest.fixture
def dwz(tmp_path):
    """(unprocessed program, processed program, the supplement)."""
    for t in ("gcc", "dwz"):
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed (.ci/run installs it)")
    progs = []
    for i in (1, 2):  # two programs: dwz -m moves what they share
        out = str(tmp_path / f"p{i}")
        subprocess.run(["gcc", "-O2", "-g", f"-DVARIANT={i}", "-o", out, SRC],
                       check=True, capture_output=True)
        progs.append(out)
    orig = str(tmp_path / "orig")
    shutil.copy(progs[0], orig)
    common = str(tmp_path / "common.debug")
    r = subprocess.run(["dwz", "-m", common, "-M", common, *progs],
                       capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(common):
        pytest.skip(f"dwz made no supplementary file: {r.stderr.strip()[-200:]}")
    return orig, progs[0], common


def test_supplement_by_its_name(dwz):
    orig, prog, common = dwz
    with ElfFile(prog) as e:
        assert altlink(e)[0] == common
    got, want = InlineIndex(prog), InlineIndex(orig)
    assert got.alt_file == common and got.missing_alt is None
    for f in ("compute", "helper"):
        assert got.sites(f) and [x.addr for x in got.sites(f)] == \
            [x.addr for x in want.sites(f)], f


def test_supplement_by_build_id_in_a_debuginfo_dir(dwz, tmp_path):
    orig, prog, common = dwz
    with ElfFile(common) as e:
        bid = e.build_id
    root = tmp_path / "dbg"
    dest = root / ".build-id" / bid[:2] / (bid[2:] + ".debug")
    dest.parent.mkdir(parents=True)
    shutil.move(common, dest)
    assert InlineIndex(prog).missing_alt == common
    debugfile.set_search_dirs([str(root)])
    got = InlineIndex(prog)
    assert got.alt_file == str(dest)
    assert [x.addr for x in got.sites("compute")] == \
        [x.addr for x in InlineIndex(orig).sites("compute")]


def test_missing_supplement_cannot_tell(dwz, assert_cannot_tell):
    _, prog, common = dwz
    assert_cannot_tell(prog, common, f"its dwz supplementary file {common} is not found")
