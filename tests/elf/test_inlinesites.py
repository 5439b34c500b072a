"""The inline index that walks only the units a function may be in
(elf.inlinesites): programs of several units built here with gcc (-O2,
-flto, C++ namespaces), the lazy answers compared with the whole index's,
the units walked counted, the answers kept on disk, and the files that
go to the whole index."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bpfscope.elf import dwarfcache, inlinesites
from bpfscope.elf.dwarf import InlineIndex
from bpfscope.elf.inlinesites import NameIndex, _Partial, index_for

# first on the command line, so that .debug_str's offsets of the names
# asked about are large: a small offset's 4 bytes are in every unit
BIG = "".join(f"int {c * 20000}(void) {{ return 0; }}\n" for c in "pqrs")
UNITS = {
    "big.c": BIG,
    "a.c": """
static inline __attribute__((always_inline)) int helper(int x) { return x * 3 + 1; }
int other(int);
int alpha(int x) { return helper(x) + other(x) + helper(x + 9); }
""",
    "b.c": """
static inline __attribute__((always_inline)) int helper(int x) { return x * 5 + 2; }
int shared_work(int x);
int other(int x) { return helper(x) ^ shared_work(x); }
""",
    "c.c": """
int shared_work(int x) { return x * x - 4; }
""",
    "m.c": """
int alpha(int);
int main(int c, char **v) { (void)v; return alpha(c); }
""",
}
# units that never name helper: the lazy walk must skip them
for i in range(6):
    UNITS[f"pad{i}.c"] = f"int pad{i}(int x) {{ return x + {i}; }}\n"

CXX = """
namespace shop {
static inline __attribute__((always_inline)) int price(int x) { return x * 7 + 3; }
int total(int x) { return price(x) + price(x + 1); }
}
int main(int c, char **) { return shop::total(c); }
"""


def _build(tmp_path, name, *flags, sources=None, compiler="gcc"):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    srcs = []
    for fn, text in (sources or UNITS).items():
        p = tmp_path / fn
        p.write_text(text)
        srcs.append(str(p))
    out = str(tmp_path / name)
    r = subprocess.run([compiler, "-O2", "-g", *flags, "-o", out, *srcs],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"{compiler} {' '.join(flags)} failed: {r.stderr[-300:]}")
    return out


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(tmp_path / "cache"))


def _same_as_whole(path, names):
    whole = InlineIndex(path)
    part = _Partial(path)
    assert part.usable
    for n in names:
        assert part.sites_of(n) == whole.sites(n), n
    return part, whole


def test_lazy_answers_match_the_whole_index_and_walk_fewer_units(tmp_path):
    prog = _build(tmp_path, "prog")
    part, whole = _same_as_whole(prog, ["helper", "shared_work", "alpha", "nothing"])
    assert len(whole.sites("helper")) == 3
    # helper is named in a.c and b.c only (shared_work's declaration in
    # b.c, its definition in c.c): not one of the pad units is walked
    assert 2 <= len(part._walked) <= 4 < len(part.starts)


def test_one_name_walks_only_its_units(tmp_path):
    prog = _build(tmp_path, "prog")
    part = _Partial(prog)
    assert len(part.sites_of("helper")) == 3
    assert len(part._walked) == 2


def test_lto_cross_unit_references_are_followed(tmp_path):
    # -flto: the inlined copies refer to the abstract subprogram in
    # another unit by DW_FORM_ref_addr
    prog = _build(tmp_path, "lto", "-flto")
    whole = InlineIndex(prog)
    names = ["helper", "shared_work", "alpha", "other"]
    assert any(whole.sites(n) for n in names)
    _same_as_whole(prog, names)


def test_cxx_qualified_names(tmp_path):
    prog = _build(tmp_path, "cxx", sources={"shop.cpp": CXX}, compiler="g++")
    part, whole = _same_as_whole(prog, ["shop::price", "price", "shop::price(int)"])
    assert len(whole.sites("shop::price")) >= 2


def test_names_it_cannot_search_for_go_to_the_whole_index(tmp_path):
    prog = _build(tmp_path, "prog")
    assert _Partial(prog).sites_of("Foo::operator<") is None
    assert _Partial(prog).sites_of("ns::f<int>(int)") is None
    idx = NameIndex(prog)
    assert idx.sites("Foo::operator<") == []
    assert idx._full is not None


def test_answers_are_kept_on_disk(tmp_path):
    prog = _build(tmp_path, "prog")
    first = index_for(prog)
    assert isinstance(first, NameIndex)
    want = first.sites("helper")
    assert len(want) == 3 and first._partial is not None
    again = index_for(prog)
    assert isinstance(again, NameIndex) and "helper" in again.answers
    assert again.sites("helper") == want
    assert again._partial is None and again._full is None   # no DWARF read


def test_no_cache_still_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", "")
    prog = _build(tmp_path, "prog")
    assert len(index_for(prog).sites("helper")) == 3


def test_many_names_switch_to_the_whole_index(tmp_path, monkeypatch):
    monkeypatch.setattr(inlinesites, "LAZY_NAMES", 2)
    prog = _build(tmp_path, "prog")
    idx = NameIndex(prog)
    for n in ("alpha", "other"):
        idx.sites(n)
    assert idx._full is None
    assert len(idx.sites("helper")) == 3
    assert idx._full is not None


def test_split_dwarf_goes_to_the_whole_index(tmp_path):
    prog = _build(tmp_path, "split", "-gdwarf-5", "-gsplit-dwarf")
    assert isinstance(index_for(prog), InlineIndex)


def test_a_stale_state_is_a_miss(tmp_path):
    prog = _build(tmp_path, "prog")
    dwarfcache.store(inlinesites.CACHE_KIND, prog, {"full": False, "answers": 5},
                     extra=inlinesites._extra(prog))
    idx = index_for(prog)
    assert isinstance(idx, NameIndex) and len(idx.sites("helper")) == 3
