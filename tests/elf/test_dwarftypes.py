"""elf.dwarftypes: a function's parameters and the types they use, read
from the DWARF gcc writes (DWARF 4 and 5, compressed sections, a file
without .debug_aranges, where every unit is tried, one whose types dwz
moved to a supplementary file, and split DWARF: gcc -gsplit-dwarf's .dwo
beside the program, DWARF 4 and 5, and a .dwp package made by dwp)."""

import os
import shutil
import subprocess

import pytest

from bpfscope.elf import ElfFile, SymbolTable
from bpfscope.elf.dwarftypes import function_info

from .conftest import _build


@pytest.fixture(scope="module", params=["-gdwarf-5", "-gdwarf-4", "-gz", "no-aranges", "dwz",
                                        "split4", "split5", "dwp"])
def dwargs(request, tmp_path_factory):
    flag = request.param
    flags = {"-gz": ["-g", "-gz"], "no-aranges": ["-g"], "dwz": ["-g"],
             "split4": ["-gdwarf-4", "-gsplit-dwarf"], "split5": ["-gdwarf-5", "-gsplit-dwarf"],
             "dwp": ["-gdwarf-4", "-gsplit-dwarf"]}.get(flag, [flag])
    path = _build(tmp_path_factory, "gcc", "dwargs.c", "dwargs", "-O1", *flags)
    if flag.startswith("split") or flag == "dwp":
        dwos = [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".dwo")]
        assert len(dwos) == 1, dwos
        with ElfFile(path) as e:
            assert e.section(".debug_info").size < 200   # a skeleton only
    if flag == "dwp":
        # the .dwo packed into prog.dwp (binutils packs DWARF 4 only), and
        # gone: only the package serves
        if shutil.which("dwp") is None:
            pytest.skip("dwp is not installed")
        dwo = os.path.join(os.path.dirname(path), dwos[0])
        subprocess.run(["dwp", "-e", path, "-o", path + ".dwp"], check=True)
        os.unlink(dwo)
    if flag == "no-aranges":
        if shutil.which("objcopy") is None:
            pytest.skip("objcopy is not installed")
        subprocess.run(["objcopy", "--remove-section=.debug_aranges", path], check=True)
    if flag == "dwz":
        # dwz -m moves the types two programs share to a supplementary
        # file (Debian's -dbgsym packages have them so)
        if shutil.which("dwz") is None:
            pytest.skip("dwz is not installed")
        other = _build(tmp_path_factory, "gcc", "dwargs.c", "dwargs", "-O1", *flags)
        common = path + ".dwz"
        subprocess.run(["dwz", "-m", common, "-M", common, path, other], check=True,
                       capture_output=True)
    return path


def info_of(path, name):
    with SymbolTable(path) as st:
        addr = st.lookup_one(name).value
    return function_info(path, addr)


def params(path, name):
    return [(p.name, p.type.name, p.type.kind, p.type.size) for p in info_of(path, name).params]


def test_parameters_by_name_and_type(dwargs):
    assert params(dwargs, "main") == [("argc", "int", "int", 4), ("argv", "char**", "pointer", 8)]
    assert params(dwargs, "takes_ptr") == [("n", "int*", "pointer", 8), ("c", "char", "int", 1)]
    assert params(dwargs, "takes_scalars") == [
        ("count", "counter_t", "int", 8), ("sh", "enum shade", "enum", 4),
        ("ok", "_Bool", "bool", 1), ("s", "const char*", "pointer", 8),
        ("small", "short int", "int", 2)]
    assert params(dwargs, "after_float") == [
        ("d", "double", "float", 8), ("p", "struct Point", "struct", 8),
        ("k", "int", "int", 4), ("m", "long int", "int", 8)]
    info = info_of(dwargs, "takes_scalars")
    assert [p.type.signed for p in info.params][2:] == [False, False, True]
    assert info.params[1].type.enumerators == (("LIGHT", 0), ("DARK", 5))
    assert info.returns.name == "long int"
    assert info_of(dwargs, "returns_big").returns.size == 32


def test_struct_layout_with_arrays_bitfields_and_self_pointers(dwargs):
    node = info_of(dwargs, "takes_nodes").types["struct Node"]
    assert node.size == 40
    assert [(n, off, t.name, bo, bits) for n, off, t, bo, bits in node.members] == [
        ("a", 0, "int", 0, 0), ("b", 4, "char[10]", 0, 0), ("c", 16, "int[3]", 0, 0),
        ("flag", 28, "unsigned int", 0, 1), ("more", 28, "unsigned int", 1, 3),
        ("next", 32, "struct Node*", 0, 0)]
    assert node.members[-1][2].target is node  # the type pointing to itself, once
    pair = info_of(dwargs, "takes_pair").types["struct Pair"]
    (name, _, arr, _, _), = pair.members
    assert (name, arr.kind, arr.count, arr.target.target.name) == ("nodes", "array", 2, "struct Node")


def test_no_debug_information_is_none(tmp_path_factory):
    path = _build(tmp_path_factory, "gcc", "dwargs.c", "dwargs_nodebug", "-O1")
    assert info_of(path, "takes_ptr") is None


def test_split_dwarf_without_its_dwo_is_none(tmp_path_factory):
    path = _build(tmp_path_factory, "gcc", "dwargs.c", "dwargs", "-O1", "-gsplit-dwarf")
    d = os.path.dirname(path)
    for f in os.listdir(d):
        if f.endswith(".dwo"):
            os.unlink(os.path.join(d, f))
    with SymbolTable(path) as st:
        addr = st.lookup_one("takes_scalars").value
    assert function_info(path, addr) is None
