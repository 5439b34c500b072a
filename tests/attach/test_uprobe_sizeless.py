"""A uprobe on a function whose symbol has size 0 (no .size, as in hand
written assembly or _init): where it ends is unknown, so bpftrace 0.26
refuses it unless --unsafe; so does bpfscope."""

import pytest

from bpfscope.elf import SymbolTable
from bpfscope.errors import SemanticError


@pytest.fixture(scope="module")
def prog(build_prog) -> str:
    return build_prog("sizeless", ("-O1",), "main_nothing.c", "sizeless.S")


def test_a_symbol_of_size_zero_is_refused(prog, expand_spec):
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:sizeless_fn")
    assert e.value.message == (
        "Could not determine boundary for sizeless_fn (symbol has size 0).\n"
        "Use --unsafe to force attachment. WARNING: This option could lead to data "
        "corruption in the target process.")


def test_unsafe_attaches_it(prog, expand_spec):
    (p,) = expand_spec(f"uprobe:{prog}:sizeless_fn", unsafe=True)
    assert p.target.vaddr == SymbolTable(prog).lookup_one("sizeless_fn",
                                                         functions_only=False).value


def test_a_wildcard_keeps_it(prog, expand_spec):
    names = [p.name for p in expand_spec(f"uprobe:{prog}:sizeless*")]
    assert names == [f"uprobe:{prog}:sizeless_fn"]
