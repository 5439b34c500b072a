"""elf.dwarfcache: DWARF indexes kept on disk. The store itself (hit,
miss, stale, corrupt, unwritable, foreign) and each reader's index read
back equal to the one built from the DWARF of a program gcc builds here."""

import os
import stat

import pytest

from bpfscope.elf import SymbolTable, dwarfcache
from bpfscope.elf.dwarf import InlineIndex
from bpfscope.elf.dwarflines import LineTable
from bpfscope.elf import dwarftypes
from bpfscope.elf.inlinechain import InlineChain

from .conftest import _build


@pytest.fixture
def cdir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(d))
    return d


@pytest.fixture
def debug(tmp_path):
    """A file standing in for a debug file: only its identity matters."""
    p = tmp_path / "prog.debug"
    p.write_bytes(b"not even ELF")
    return str(p)


def entries(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_hit_and_miss(cdir, debug):
    assert dwarfcache.load("inline", debug) is None                 # nothing yet
    assert dwarfcache.store("inline", debug, {"a": [1, (2, "x")]})
    assert dwarfcache.load("inline", debug) == {"a": [1, (2, "x")]}
    assert dwarfcache.load("lines", debug) is None                  # another kind
    assert dwarfcache.load("inline", debug, extra=("/other",)) is None
    st = os.stat(cdir)
    assert stat.S_IMODE(st.st_mode) == 0o700


def test_a_changed_file_is_a_miss_and_its_old_entry_goes(cdir, debug):
    dwarfcache.store("inline", debug, [1])
    os.utime(debug, ns=(1, 1))
    assert dwarfcache.load("inline", debug) is None
    dwarfcache.store("inline", debug, [2])
    assert dwarfcache.load("inline", debug) == [2]
    assert len(entries(cdir)) == 1


def test_another_version_of_the_readers_misses(cdir, debug, monkeypatch):
    """An entry is what these readers made: after an upgrade (their files
    differ) it is a miss, so an older state layout is never read back."""
    dwarfcache.store("inline", debug, [1])
    assert dwarfcache.load("inline", debug) == [1]
    monkeypatch.setattr(dwarfcache, "_STAMP", (("dwarf.py", 1, 2),))
    assert dwarfcache.load("inline", debug) is None


def test_entries_of_other_functions_stay(cdir, debug):
    dwarfcache.store("func", debug, "f", extra=(0x1000,))
    dwarfcache.store("func", debug, "g", extra=(0x2000,))
    assert dwarfcache.load("func", debug, extra=(0x1000,)) == "f"
    assert dwarfcache.load("func", debug, extra=(0x2000,)) == "g"


def test_a_changed_dependency_makes_it_stale(cdir, debug, tmp_path):
    dwo = tmp_path / "a.dwo"
    dwo.write_bytes(b"1")
    assert dwarfcache.store("inline", debug, [1], deps=[dwarfcache.dependency(str(dwo))])
    assert dwarfcache.load("inline", debug) == [1]
    dwo.write_bytes(b"22")
    assert dwarfcache.load("inline", debug) is None
    dwo.unlink()
    assert dwarfcache.load("inline", debug) is None
    # a dependency that is not there is nothing to store
    assert not dwarfcache.store("inline", debug, [1], deps=[dwarfcache.dependency(str(dwo))])


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "magic"])
def test_corrupt_entries_are_misses(cdir, debug, damage):
    dwarfcache.store("inline", debug, list(range(100)))
    (name,) = entries(cdir)
    path = cdir / name
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip":
        data[-3] ^= 0xFF
    elif damage == "empty":
        data = b""
    else:
        data[:8] = b"XXXXXXXX"
    path.write_bytes(bytes(data))
    assert dwarfcache.load("inline", debug) is None
    # cached() then builds anew and writes a good entry
    got = dwarfcache.cached("inline", debug, lambda: "built", lambda r: ([r], []),
                            lambda s: s[0])
    assert got == "built"
    assert dwarfcache.load("inline", debug) == ["built"]


def test_a_state_of_the_wrong_shape_is_rebuilt(cdir, debug):
    dwarfcache.store("inline", debug, 42)
    got = dwarfcache.cached("inline", debug, lambda: "built", lambda r: ({"k": r}, []),
                            lambda s: s["k"])
    assert got == "built"


def test_unwritable_or_foreign_directory_means_no_cache(tmp_path, monkeypatch, debug):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(ro / "sub"))
    if os.geteuid() != 0:   # root writes anywhere; a file in the way stops it too
        assert not dwarfcache.store("inline", debug, [1])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(blocker / "sub"))
    assert not dwarfcache.store("inline", debug, [1])
    assert dwarfcache.load("inline", debug) is None
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", str(shared))
    assert not dwarfcache.store("inline", debug, [1])
    assert dwarfcache.cached("inline", debug, lambda: "built", lambda r: ([r], []),
                             lambda s: s[0]) == "built"
    assert os.listdir(shared) == []


def test_off_when_empty(monkeypatch, debug, tmp_path):
    monkeypatch.setenv("BPFSCOPE_DWARF_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert not dwarfcache.store("inline", debug, [1])
    assert not (tmp_path / "xdg").exists()


def test_default_directory_is_under_xdg(monkeypatch, debug, tmp_path):
    monkeypatch.delenv("BPFSCOPE_DWARF_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dwarfcache.store("inline", debug, [1])
    assert len(entries(tmp_path / "xdg" / "bpfscope" / "dwarf")) == 1


# -- the readers' indexes, built and read back ----------------------------

@pytest.fixture(scope="module", params=[["-gdwarf-5"], ["-gdwarf-4", "-gz"]],
                ids=["dwarf5", "dwarf4-compressed"])
def inlprog(request, tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "inlstack.c", "inlstack", "-O2", *request.param)


@pytest.fixture(scope="module")
def argprog(tmp_path_factory):
    return _build(tmp_path_factory, "gcc", "dwargs.c", "dwargs", "-O1", "-g")


def test_inline_index_and_chain_read_back_the_same(cdir, inlprog):
    built = InlineIndex(inlprog)
    first = InlineIndex.cached(inlprog)
    assert entries(cdir)
    again = InlineIndex.cached(inlprog)
    assert again.info == b"" and again.subprograms == built.subprograms
    names = {n for e in built.subprograms.values() for n in e[:2] if n}
    assert any(built.sites(n) for n in names)
    for n in names:
        assert first.sites(n) == again.sites(n) == built.sites(n)
    lines = LineTable(inlprog)
    chain = InlineChain(inlprog, lines=lines)
    InlineChain.cached(inlprog, lines=lines)
    back = InlineChain.cached(inlprog, lines=lines)
    assert back._copies == chain._copies and back._copies
    for c in chain._copies:
        assert back.at(c.low) == chain.at(c.low)
        assert back.name_of(c.origin) == chain.name_of(c.origin)


def test_line_table_reads_back_the_same(cdir, inlprog):
    built = LineTable(inlprog)
    LineTable.cached(inlprog)
    back = LineTable.cached(inlprog)
    assert back.rows == built.rows and back.file_names == built.file_names
    for r in built.rows[::7]:
        assert back.at(r.addr) == built.at(r.addr)
    f, line = built.at(built.rows[0].addr)
    assert back.addresses(f, line) == built.addresses(f, line)
    assert back.lines_of(os.path.basename(f)) == built.lines_of(os.path.basename(f))


def _shape(t, seen):
    if t is None or id(t) in seen:
        return t and t.name
    seen.add(id(t))
    return (t.kind, t.name, t.size, t.signed, t.count, t.enumerators, _shape(t.target, seen),
            [(m[0], m[1], _shape(m[2], seen), m[3], m[4]) for m in t.members])


def test_function_info_reads_back_the_same(cdir, argprog, monkeypatch):
    with SymbolTable(argprog) as st:
        addrs = {n: st.lookup_one(n).value for n in ("main", "takes_nodes", "takes_scalars")}
    built = {}
    for n, a in addrs.items():
        built[n] = dwarftypes.function_info(argprog, a)
    # a new process: nothing in memory, the debug info unreadable
    monkeypatch.setattr(dwarftypes, "_CACHE", {})
    monkeypatch.setattr(dwarftypes, "_READERS", {})
    monkeypatch.setattr(dwarftypes, "_Reader", None)
    for n, a in addrs.items():
        got = dwarftypes.function_info(argprog, a)
        assert [(p.name, _shape(p.type, set())) for p in got.params] == \
            [(p.name, _shape(p.type, set())) for p in built[n].params], n
        assert _shape(got.returns, set()) == _shape(built[n].returns, set())
        assert {k: _shape(v, set()) for k, v in got.types.items()} == \
            {k: _shape(v, set()) for k, v in built[n].types.items()}
    node = got.types.get("struct Node") or dwarftypes.function_info(
        argprog, addrs["takes_nodes"]).types["struct Node"]
    more = [m for m in node.members if m[2].kind == "pointer"]
    assert more and more[0][2].target is node      # the self pointer is the type itself


def _entries(d, n, size=100):
    names = []
    for i in range(n):
        name = f"lines-{i:016x}-{i:016x}.dwc"
        p = d / name
        p.write_bytes(b"x" * size)
        os.chmod(p, 0o600)
        os.utime(p, ns=(10**18 + i * 10**9,) * 2)   # entry i is older than i+1
        names.append(name)
    return names


def _evict(d, **kw):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return dwarfcache.evict(fd, **kw)
    finally:
        os.close(fd)


def test_eviction_keeps_the_newest_entries(tmp_path):
    names = _entries(tmp_path, 6)
    (tmp_path / "notes.txt").write_text("not ours to remove")
    (tmp_path / "lines-zz.dwc").write_text("not an entry's name")
    assert sorted(_evict(tmp_path, max_entries=4)) == names[:2]
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:] + ["notes.txt", "lines-zz.dwc"])


def test_eviction_by_size_spares_the_entry_just_written(tmp_path):
    names = _entries(tmp_path, 5, size=400)
    # the oldest was just written again (its mtime aside): it stays
    assert sorted(_evict(tmp_path, keep=names[0], max_bytes=1000)) == names[1:4]
    assert sorted(os.listdir(tmp_path)) == [names[0], names[4]]


def test_store_evicts(cdir, debug, monkeypatch):
    monkeypatch.setattr(dwarfcache, "MAX_ENTRIES", 1)
    assert dwarfcache.store("lines", debug, {"a": 0})   # makes the directory
    old = _entries(cdir, 3)
    assert dwarfcache.store("lines", debug, {"a": 1})
    left = os.listdir(cdir)
    assert len(left) == 1 and left[0] not in old
    assert dwarfcache.load("lines", debug) == {"a": 1}
