"""bpfscope.elf.demangle against c++filt's output (recorded in
data/demangle_pairs.tsv, so the test needs no binutils)."""

import os
import shutil
import subprocess

import pytest

from bpfscope.elf.demangle import (DemangleError, demangle, demangle_strict,
                                   find_mangled, matches_qualified_name,
                                   strip_params)

DATA = os.path.join(os.path.dirname(__file__), "data", "demangle_pairs.tsv")


def _pairs():
    with open(DATA) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            m, d = line.rstrip("\n").split("\t")
            yield m, d


def test_recorded_pairs_all_match():
    pairs = list(_pairs())
    assert len(pairs) > 3000
    bad = [(m, d, demangle(m)) for m, d in pairs if demangle(m) != d]
    assert bad == [], f"{len(bad)} mismatches, first: {bad[:3]}"


@pytest.mark.parametrize("mangled,want", [
    ("_Z3foov", "foo()"),
    ("_Z3foo", "foo"),                # a variable: no parameter list
    ("_ZN3foo3barE", "foo::bar"),
    ("_ZL3foo", "foo"),
    ("_ZN2ns5KlassC2Ei", "ns::Klass::Klass(int)"),
    ("_ZN2ns5KlassD0Ev", "ns::Klass::~Klass()"),
    ("_ZNK2ns5Klass6methodEi", "ns::Klass::method(int) const"),
    ("_ZN2ns5KlasspLERKS0_", "ns::Klass::operator+=(ns::Klass const&)"),
    ("_ZN2ns5twiceIiEET_S1_", "int ns::twice<int>(int)"),
    ("_ZNSsC1EPKcRKSaIcE",
     "std::basic_string<char, std::char_traits<char>, std::allocator<char> >"
     "::basic_string(char const*, std::allocator<char> const&)"),
    ("_Z1fPFviE", "f(void (*)(int))"),
    ("_Z1fM1AKFviE", "f(void (A::*)(int) const)"),
    ("_Z1fRA10_i", "f(int (&) [10])"),
    ("_Z1fIJidEEvDpT_", "void f<int, double>(int, double)"),
    ("_Z1fILb1EEvv", "void f<true>()"),
    ("_ZTV1A", "vtable for A"),
    ("_ZThn8_N1A1fEv", "non-virtual thunk to A::f()"),
    ("_ZGVZ3foovE1x", "guard variable for foo()::x"),
    ("_ZZ3foovENKUlvE_clEv", "foo()::{lambda()#1}::operator()() const"),
    ("_ZN12_GLOBAL__N_13barEv", "(anonymous namespace)::bar()"),
    ("_Z3fooi.constprop.0.isra.0", "foo(int) [clone .constprop.0] [clone .isra.0]"),
    ("_ZN1A1fB5cxx11Ev", "A::f[abi:cxx11]()"),
    ("_Z5outerIiEDTplfp_Li1EET_", "decltype ({parm#1}+(1)) outer<int>(int)"),
])
def test_known_forms(mangled, want):
    assert demangle(mangled) == want


@pytest.mark.parametrize("name", [
    "main", "malloc", "_Z", "_Zfoo", "_Z1fIiEvT0_", "_Z3fooi.", "",
])
def test_not_mangled_or_invalid_returns_input(name):
    assert demangle(name) == name


def test_strict_raises():
    with pytest.raises(DemangleError):
        demangle_strict("_Z1fIiEvT0_")  # T0_ has no argument
    with pytest.raises(DemangleError):
        demangle_strict("notmangled")


def test_version_suffix_kept():
    assert demangle("_ZNSo5flushEv@@GLIBCXX_3.4") == \
        "std::basic_ostream<char, std::char_traits<char> >::flush()@@GLIBCXX_3.4"


def test_strip_params():
    assert strip_params("ns::Klass::method(int) const") == "ns::Klass::method"
    assert strip_params("int ns::twice<int>(int)") == "ns::twice<int>"
    assert strip_params("ns::Klass::operator+=(ns::Klass const&)") == "ns::Klass::operator+="
    assert strip_params("ns::Klass::operator new(unsigned long)") == "ns::Klass::operator new"
    assert strip_params("foo(int) [clone .cold]") == "foo"
    assert strip_params("vtable for A") == "vtable for A"
    assert strip_params("std::function<void (int)>::operator()(int) const") == \
        "std::function<void (int)>::operator()"


def test_matches_qualified_name():
    m = "_ZNK2ns5Klass6methodEi"
    assert matches_qualified_name(m, "ns::Klass::method")
    assert matches_qualified_name(m, "ns::Klass::method(int) const")
    assert matches_qualified_name(m, "ns::Klass::*")
    assert not matches_qualified_name(m, "ns::Klass::other")
    assert not matches_qualified_name("method", "method")


def test_find_mangled_in_program(cxxprog):
    from bpfscope.elf.symbols import SymbolTable
    names = [s.name for s in SymbolTable(cxxprog).symbols]
    got = find_mangled(names, "ns::Klass::method")
    assert set(got) == {"_ZNK2ns5Klass6methodEi",
                        "_ZN2ns5Klass6methodERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"}
    assert find_mangled(names, "ns::Klass::method(int) const") == ["_ZNK2ns5Klass6methodEi"]
    assert set(find_mangled(names, "ns::twice<*>")) == {"_ZN2ns5twiceIiEET_S1_",
                                                       "_ZN2ns5twiceIdEET_S1_"}
    assert find_mangled(names, "ns::inner::count") == [
        "_ZN2ns5inner5countERSt3mapINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEiSt4lessIS7_ESaISt4pairIKS7_iEEEPKc"]
    assert find_mangled(names, "plain_c_like") == ["_Z12plain_c_likePi"]


def test_program_symbols_match_cxxfilt(cxxprog):
    """Every C++ symbol of the compiled program, if c++filt is here."""
    if shutil.which("c++filt") is None:
        pytest.skip("c++filt is not installed")
    from bpfscope.elf.symbols import SymbolTable
    names = sorted({s.name for s in SymbolTable(cxxprog).symbols
                    if s.name.startswith("_Z")})
    out = subprocess.run(["c++filt"], input="\n".join(names) + "\n",
                         capture_output=True, text=True, check=True).stdout
    assert [demangle(n) for n in names] == out.splitlines()
