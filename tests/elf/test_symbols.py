"""bpfscope.elf.symbols: name, glob and address lookups; split functions."""

import os

import pytest

from bpfscope.elf.symbols import SymbolTable, split_function_name

LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


@pytest.mark.parametrize("name,want", [
    ("foo.part.0", ("foo", ["part"])),
    ("foo.cold", ("foo", ["cold"])),
    ("foo.cold.12", ("foo", ["cold"])),
    ("foo.isra.3", ("foo", ["isra"])),
    ("foo.constprop.0.isra.0", ("foo", ["constprop", "isra"])),
    ("foo.constprop.0.cold", ("foo", ["constprop", "cold"])),
    ("foo.lto_priv.0", ("foo", ["lto_priv"])),
    ("foo.llvm.1234567", ("foo", ["llvm"])),
    ("_ZN2ns1fEv.cold", ("_ZN2ns1fEv", ["cold"])),
    ("a.b.part.1", ("a.b", ["part"])),
    ("foo", None),
    ("foo.bar", None),
    ("completed.0", None),
])
def test_split_function_name(name, want):
    assert split_function_name(name) == want


def test_lookup_against_nm(symprog, nm):
    t = SymbolTable(symprog)
    want = {n: a for n, a, ty in nm(symprog) if ty in "tT"}
    for name in ("main", "add_numbers", "work", "work.cold", "static_helper",
                 "scale.constprop.0", "big_body.part.0", "report"):
        if name not in want:
            continue  # a compiler that did not split it
        syms = t.lookup(name)
        assert [s.value for s in syms] == [want[name]], name
        assert t.lookup_one(name).value == want[name]
    assert t.lookup("no_such_function") == []
    assert t.lookup_one("no_such_function") is None


def test_glob_match(symprog):
    t = SymbolTable(symprog)
    assert t.match("add_*") == ["add_numbers"]
    assert t.match("wor?") == ["work"]
    assert "work.cold" in t.match("work*")
    assert t.match("add_numbers") == ["add_numbers"]
    assert t.match("nothing*") == []
    # data is not a function unless asked for
    assert t.match("global_*") == []
    assert t.match("global_*", functions_only=False) == ["global_counter"]


def test_lookup_addr(symprog):
    t = SymbolTable(symprog)
    add = t.lookup_one("add_numbers")
    assert t.lookup_addr(add.value).symbol.name == "add_numbers"
    r = t.lookup_addr(add.value + add.size - 1)
    assert (r.name, r.offset) == ("add_numbers", add.size - 1)
    assert r.format() == f"add_numbers+{add.size - 1}"
    assert t.symbolize(add.value) == "add_numbers"
    assert t.symbolize(add.value + 1, with_offset=False) == "add_numbers"
    # data symbols resolve too
    g = t.lookup("global_counter")[0]
    assert t.symbolize(g.value + 2) == "global_counter+2"
    # the cold part is its own symbol
    cold = t.lookup("work.cold")
    if cold:
        assert t.lookup_addr(cold[0].value + 1).name == "work.cold"
    assert t.lookup_addr(0) is None
    assert t.lookup_addr(1 << 60) is None


def test_lookup_addr_every_function_against_nm(symprog, nm):
    t = SymbolTable(symprog)
    for f in t.functions():
        if f.size:
            assert t.lookup_addr(f.value + f.size // 2).symbol.value == f.value


def test_aliases_prefer_global():
    if not os.path.exists(LIBC):
        pytest.skip("no libc")
    t = SymbolTable(LIBC)
    # malloc and __libc_malloc share an address: the shorter global wins.
    m = t.lookup_one("malloc")
    assert t.lookup_addr(m.value).name == "malloc"
    assert t.symbolize(m.value + 4) == "malloc+4"
    # Versioned lookups
    assert [s.version for s in t.lookup("memcpy@@GLIBC_2.14")] == ["GLIBC_2.14"]
    assert [s.version for s in t.lookup("memcpy@GLIBC_2.2.5")] == ["GLIBC_2.2.5"]
    assert t.lookup_one("memcpy").version == "GLIBC_2.14"


def test_functions_sorted_unique(symprog):
    t = SymbolTable(symprog)
    fs = t.functions()
    addrs = [f.value for f in fs]
    assert addrs == sorted(set(addrs))
    assert {"main", "add_numbers", "work"} <= {f.name for f in fs}
    # picked is an IFUNC sharing resolve_pick's address: one entry.
    assert len([f for f in fs if f.name in ("picked", "resolve_pick")]) == 1


def test_split_parts(symprog):
    t = SymbolTable(symprog)
    parts = t.split_parts()
    names = {p.name for v in parts.values() for p in v}
    # GCC 12 at -O2 produces all three; older/newer ones may differ.
    assert names, "no compiler-split functions found"
    if t.lookup("work.cold"):
        assert [p.name for p in t.parts_of("work")] == ["work.cold"]
        assert t.parent_of("work.cold") == "work"
    if t.lookup("scale.constprop.0"):
        assert [p.name for p in t.parts_of("scale")] == ["scale.constprop.0"]
    if t.lookup("big_body.part.0"):
        assert [p.name for p in t.parts_of("big_body")] == ["big_body.part.0"]
    assert t.parts_of("main") == []
    assert t.parent_of("main") is None


def test_stripped_binary_uses_dynsym(symprog_stripped):
    t = SymbolTable(symprog_stripped)
    assert t.lookup("add_numbers") == []  # not exported
    assert t.lookup_one("main") is None or t.lookup_one("main").table == "dynsym"


def test_cxx_symbols(cxxprog, nm):
    t = SymbolTable(cxxprog)
    want = {n: a for n, a, ty in nm(cxxprog)}
    s = t.lookup_one("_ZNK2ns5Klass6methodEi")
    assert s.value == want["_ZNK2ns5Klass6methodEi"]
    assert "_ZN2ns5twiceIiEET_S1_" in t.match("_ZN2ns5twice*")
