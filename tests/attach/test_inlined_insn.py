"""The instruction checks at DWARF inline sites (--uprobe-inlined): each
inlined copy's address from the debug info is decoded in its caller like
any uprobe address (bpfscope.attach.uprobesite.check_site), so a copy that
starts with a hazardous vector instruction is moved past it or refused,
and a site that is not an instruction boundary is refused. The program is
tests/attach/progs/inlined_insn.c at -O2 -g; no kernel needed."""

from __future__ import annotations

import pytest

from bpfscope.arch import x86_insn
from bpfscope.attach import inlined, uprobe
from bpfscope.elf import SymbolTable
from bpfscope.errors import SemanticError


@pytest.fixture(scope="module")
def prog(build_prog) -> str:
    return build_prog("inlined_insn", ("-O2", "-g"), "inlined_insn.c")


def _first(prog, addr):
    st = SymbolTable(prog)
    return x86_insn.decode(st.elf.read_vaddr(addr, 15), 0, addr)


def test_sites_are_instruction_boundaries_of_their_callers(prog, expand_spec):
    st = SymbolTable(prog)
    sites = inlined.inline_sites(prog, "plain", st)
    assert sorted(s.caller for s in sites) == ["use1", "use2"]
    for s in sites:
        caller = st.lookup_one(s.caller)
        code = st.elf.read_vaddr(caller.value, caller.size)
        assert s.addr in x86_insn.boundaries(code, caller.value)
    probes = expand_spec(f"uprobe:{prog}:plain", inlined=True)
    assert [p.target.vaddr for p in probes] == [s.addr for s in sites]


def test_copy_starting_with_a_vector_only_hazard_is_moved(prog, capsys, expand_spec):
    (site,) = inlined.inline_sites(prog, "vecfirst", SymbolTable(prog))
    assert _first(prog, site.addr).hex == "c5 e1 eb e3"      # vpor, as written
    capsys.readouterr()
    (p,) = expand_spec(f"uprobe:{prog}:vecfirst", inlined=True)
    assert p.target.vaddr == site.addr + 4 and p.target.requested == site.addr
    assert p.target.site == 0
    err = capsys.readouterr().err
    assert (f"uprobe on vecfirst inlined into use1 at {site.addr:#x} in {prog} placed "
            f"at +4 (after VEX-encoded c5 e1 eb e3)") in err


def test_copy_starting_with_an_unmovable_hazard_is_refused(prog, expand_spec):
    (site,) = inlined.inline_sites(prog, "vecbad", SymbolTable(prog))
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:vecbad", inlined=True)
    assert e.value.message.startswith(
        f"Cannot attach uprobe to the VEX-encoded instruction c5 f9 70 cf 44 at vecbad "
        f"inlined into use2 at {site.addr:#x} in {prog}")


def test_site_inside_an_instruction_is_refused(prog, monkeypatch, expand_spec):
    """Debug info that points inside an instruction (stale or wrong DWARF)."""
    st = SymbolTable(prog)
    sites = inlined.inline_sites(prog, "plain", st)
    off = sites[0]._replace(addr=sites[0].addr + 1)
    monkeypatch.setattr(uprobe, "inline_sites", lambda path, func, st: [off])
    caller = st.lookup_one("use1")
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:plain", inlined=True)
    assert e.value.message == (f"Could not add uprobe into middle of instruction: "
                               f"{prog}:use1+{off.addr - caller.value}")
