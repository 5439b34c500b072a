"""USDT sites get the uprobe address checks (issue 17 point 1): a site on
the assembler's nop is fine, a note pointing at an instruction the kernel
mishandles or inside an instruction is refused (left out of a wildcard
with a warning; attached with --unsafe and a warning). The sites are
hand-written notes in tests/attach/progs/usdt_sites.S; no kernel needed."""

from __future__ import annotations

import pytest

from bpfscope.elf import SymbolTable
from bpfscope.errors import SemanticError


@pytest.fixture(scope="module")
def prog(build_prog) -> str:
    return build_prog("usdt_sites", ("-O1",), "usdt_sites.c", "usdt_sites.S")


def _at(prog, name):
    return SymbolTable(prog).lookup_one(name).value


def test_nop_sites_are_accepted(prog, expand_spec):
    (p,) = expand_spec(f"usdt:{prog}:bst:nop_site")
    assert p.site_vaddr == _at(prog, "good_sites")
    (p,) = expand_spec(f"usdt:{prog}:bst:long_nop_site")
    assert p.site_vaddr == _at(prog, "good_sites") + 1


def test_site_on_a_hazardous_instruction_is_refused(prog, expand_spec):
    with pytest.raises(SemanticError) as e:
        expand_spec(f"usdt:{prog}:bst:vex_site")
    assert e.value.message.startswith(
        f"Cannot attach usdt to the VEX-encoded instruction c5 e1 eb e3 at bst:vex_site "
        f"(site {_at(prog, 'bad_sites'):#x}) in {prog}: the kernel mistakes it for a "
        f"legacy branch or nop")
    assert "does not point at one and is not to be trusted" in e.value.message


def test_site_inside_an_instruction_is_refused(prog, expand_spec):
    with pytest.raises(SemanticError) as e:
        expand_spec(f"usdt:{prog}:bst:inside_site")
    # bpftrace's wording; the site is 3 bytes into bad_sites' 7-byte mov
    assert e.value.message == (f"Could not add usdt into middle of instruction: "
                               f"{prog}:bad_sites+7")


def test_wildcard_leaves_bad_sites_out(prog, capsys, expand_spec):
    capsys.readouterr()
    probes = expand_spec(f"usdt:{prog}:bst:*")
    assert sorted(p.name.rsplit(":", 1)[1] for p in probes) == ["long_nop_site",
                                                                "nop_site"]
    err = capsys.readouterr().err
    assert err.count("that site is left out") == 2, err


def test_unsafe_attaches_bad_sites_with_a_warning(prog, capsys, expand_spec):
    capsys.readouterr()
    (p,) = expand_spec(f"usdt:{prog}:bst:vex_site", unsafe=True)
    assert p.site_vaddr == _at(prog, "bad_sites")
    assert "attached anyway (--unsafe)" in capsys.readouterr().err
