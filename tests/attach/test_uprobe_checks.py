"""What the uprobe provider does with addresses it cannot vouch for (issue
17 point 1), without the kernel: a function whose bytes cannot be read or
decoded is refused with bpftrace's "Failed to check" error and the reason
(a warning and attached unchecked with --unsafe; left out of a wildcard
with a warning), and a probe inside an instruction gets bpftrace's exact
"into middle of instruction" wording. The program is tests/attach/progs/
undecodable.S, built here."""

from __future__ import annotations

import pytest

from bpfscope.elf import SymbolTable
from bpfscope.errors import SemanticError


@pytest.fixture(scope="module")
def prog(build_prog) -> str:
    return build_prog("undecodable", ("-O1",), "main_nothing.c", "undecodable.S")


def _addr(prog, name):
    return SymbolTable(prog).lookup_one(name, functions_only=False).value


def test_undecodable_entry_is_refused(prog, expand_spec):
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:bad_entry")
    at = _addr(prog, "bad_entry")
    assert e.value.message.startswith(
        f"Failed to check if uprobe is in proper place: {prog}:bad_entry: the bytes "
        f"at {at:#x} (06 c3) ")
    assert "are not an x86-64 instruction bpfscope can decode" in e.value.message


def test_undecodable_code_before_an_offset_is_refused(prog, expand_spec):
    # bad_later+4 is past the invalid byte at +3: no boundary can be proven
    with pytest.raises(SemanticError, match=r"Failed to check if uprobe is in proper "
                       r"place: .*:bad_later\+4: the bytes at 0x[0-9a-f]+ \(06 48"):
        expand_spec(f"uprobe:{prog}:bad_later+4")
    # the entry decodes: fine
    (p,) = expand_spec(f"uprobe:{prog}:bad_later")
    assert p.target.vaddr == _addr(prog, "bad_later")


def test_unreadable_function_is_refused(prog, expand_spec):
    at = _addr(prog, "nobits_fn")
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:nobits_fn")
    assert e.value.message == (
        f"Failed to check if uprobe is in proper place: {prog}:nobits_fn: its code "
        f"at {at:#x} cannot be read from the file (--unsafe attaches it unchecked)")


def test_unsafe_attaches_unchecked_with_a_warning(prog, capsys, expand_spec):
    (p,) = expand_spec(f"uprobe:{prog}:bad_entry", unsafe=True)
    assert p.target.vaddr == _addr(prog, "bad_entry")
    err = capsys.readouterr().err
    assert f"WARNING: Unchecked uprobe: {prog}:bad_entry (the bytes at" in err


def test_wildcard_leaves_an_undecodable_function_out(prog, capsys, expand_spec):
    capsys.readouterr()
    probes = expand_spec(f"uprobe:{prog}:bad_*")
    assert [p.name for p in probes] == [f"uprobe:{prog}:bad_later"]
    err = capsys.readouterr().err
    assert "WARNING: Failed to check if uprobe is in proper place" in err
    assert "bad_entry is left out" in err


def test_middle_of_instruction_wording_is_bpftrace_s(prog, capsys, expand_spec):
    # good_riprel: mov konst(%rip),%rax (7 bytes); +3 and its address + 2
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:good_riprel+3")
    assert e.value.message == (f"Could not add uprobe into middle of instruction: "
                               f"{prog}:good_riprel+3")
    at = _addr(prog, "good_riprel")
    with pytest.raises(SemanticError) as e:
        expand_spec(f"uprobe:{prog}:{at + 2:#x}")
    assert e.value.message == (f"Could not add uprobe into middle of instruction: "
                               f"{prog}:good_riprel+2")
    capsys.readouterr()
    (p,) = expand_spec(f"uprobe:{prog}:good_riprel+3", unsafe=True)
    assert p.target.vaddr == at + 3
    assert (f"WARNING: Unsafe uprobe in the middle of the instruction: "
            f"{prog}:good_riprel+3\n") in capsys.readouterr().err
    (p,) = expand_spec(f"uprobe:{prog}:good_riprel+7")
    assert p.target.vaddr == at + 7
