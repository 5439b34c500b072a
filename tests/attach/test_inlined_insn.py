"""The instruction checks at DWARF inline sites (--uprobe-inlined): each
inlined copy's address from the debug info is decoded in its caller like
any uprobe address (bpfscope.attach.uprobe.check_site), so a copy that
starts with a hazardous vector instruction is moved past it or refused,
and a site that is not an instruction boundary is refused. The program is
tests/attach/progs/inlined_insn.c at -O2 -g; no kernel needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bpfscope.arch import x86_insn
from bpfscope.attach import inlined, providers, uprobe
from bpfscope.elf import SymbolTable
from bpfscope.errors import SemanticError

SRC = Path(__file__).parent / "progs" / "inlined_insn.c"


@pytest.fixture(scope="module")
def prog(tmp_path_factory) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    out = str(tmp_path_factory.mktemp("inlined_insn") / "inlined_insn")
    subprocess.run([gcc, "-O2", "-g", "-o", out, str(SRC)], check=True, capture_output=True)
    return out


class _AP:
    def __init__(self, text):
        self.raw = text
        self.parts = uprobe.split_spec(text)
        self.span = None


def _expand(text, **opts):
    return providers.expand(_AP(text), providers.ProbeOptions(inlined=True, **opts))


def _first(prog, addr):
    st = SymbolTable(prog)
    return x86_insn.decode(st.elf.read_vaddr(addr, 15), 0, addr)


def test_sites_are_instruction_boundaries_of_their_callers(prog):
    st = SymbolTable(prog)
    sites = inlined.inline_sites(prog, "plain", st)
    assert sorted(s.caller for s in sites) == ["use1", "use2"]
    for s in sites:
        caller = st.lookup_one(s.caller)
        code = st.elf.read_vaddr(caller.value, caller.size)
        assert s.addr in x86_insn.boundaries(code, caller.value)
    probes = _expand(f"uprobe:{prog}:plain")
    assert [p.target.vaddr for p in probes] == [s.addr for s in sites]


def test_copy_starting_with_a_vector_only_hazard_is_moved(prog, capsys):
    (site,) = inlined.inline_sites(prog, "vecfirst", SymbolTable(prog))
    assert _first(prog, site.addr).hex == "c5 e1 eb e3"      # vpor, as written
    capsys.readouterr()
    (p,) = _expand(f"uprobe:{prog}:vecfirst")
    assert p.target.vaddr == site.addr + 4 and p.target.requested == site.addr
    assert p.target.site == 0
    err = capsys.readouterr().err
    assert (f"uprobe on vecfirst inlined into use1 at {site.addr:#x} in {prog} placed "
            f"at +4 (after VEX-encoded c5 e1 eb e3)") in err


def test_copy_starting_with_an_unmovable_hazard_is_refused(prog):
    (site,) = inlined.inline_sites(prog, "vecbad", SymbolTable(prog))
    with pytest.raises(SemanticError) as e:
        _expand(f"uprobe:{prog}:vecbad")
    assert e.value.message.startswith(
        f"Cannot attach uprobe to the VEX-encoded instruction c5 f9 70 cf 44 at vecbad "
        f"inlined into use2 at {site.addr:#x} in {prog}")


def test_site_inside_an_instruction_is_refused(prog, monkeypatch):
    """Debug info that points inside an instruction (stale or wrong DWARF)."""
    st = SymbolTable(prog)
    sites = inlined.inline_sites(prog, "plain", st)
    off = sites[0]._replace(addr=sites[0].addr + 1)
    monkeypatch.setattr(uprobe, "inline_sites", lambda path, func, st: [off])
    caller = st.lookup_one("use1")
    with pytest.raises(SemanticError) as e:
        _expand(f"uprobe:{prog}:plain")
    assert e.value.message == (f"Could not add uprobe into middle of instruction: "
                               f"{prog}:use1+{off.addr - caller.value}")
