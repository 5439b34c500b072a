"""Inlined copies and compiler-split parts of a uprobe's function: the
DWARF reader (bpfscope.elf.dwarf), the checker (bpfscope.attach.inlined)
and what the uprobe provider expands and prints, on tests/attach/progs/
inlined.c built at -O2 -g, -O0 -g, -O2 without -g and -O2 -gdwarf-4."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from bpfscope.attach import inlined, providers, uprobe
from bpfscope.elf import SymbolTable
from bpfscope.elf.dwarf import InlineIndex
from bpfscope.errors import SemanticError

SRC = os.path.join(os.path.dirname(__file__), "progs", "inlined.c")


def _build(tmp_path_factory, name, *flags):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    out = str(tmp_path_factory.mktemp("inlined") / name)
    subprocess.run([gcc, *flags, "-o", out, SRC], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def o2g(tmp_path_factory):
    return _build(tmp_path_factory, "inl_o2g", "-O2", "-g")


@pytest.fixture(scope="module")
def o0g(tmp_path_factory):
    return _build(tmp_path_factory, "inl_o0g", "-O0", "-g")


@pytest.fixture(scope="module")
def o2(tmp_path_factory):
    return _build(tmp_path_factory, "inl_o2", "-O2")


@pytest.fixture(scope="module")
def o2dw4(tmp_path_factory):
    return _build(tmp_path_factory, "inl_o2dw4", "-O2", "-gdwarf-4")


def _callers(path, func):
    st = SymbolTable(path)
    return [s.caller for s in inlined.inline_sites(path, func, st)]


def _in_function(path, name, addr):
    hit = SymbolTable(path).lookup_addr(addr)
    return hit is not None and hit.name == name


# ------------------------------------------------------------ DWARF reader

def test_sites_of_inlined_function(o2g):
    idx = InlineIndex(o2g)
    sites = idx.sites("compute")
    assert len(sites) == 2
    assert sorted(_callers(o2g, "compute")) == ["main", "run"]
    assert _callers(o2g, "helper") == ["main"]
    assert idx.sites("work") == [] and idx.sites("run") == []


def test_dwarf4_agrees_with_dwarf5(o2g, o2dw4):
    assert _callers(o2dw4, "compute") == _callers(o2g, "compute")
    assert _callers(o2dw4, "helper") == ["main"]


def test_no_inlining_at_o0(o0g):
    assert InlineIndex(o0g).sites("compute") == []


def test_site_addresses_are_code_of_the_caller(o2g):
    for s in inlined.inline_sites(o2g, "compute", SymbolTable(o2g)):
        assert _in_function(o2g, s.caller, s.addr)


# ------------------------------------------------------------ the checker

def test_inlined_without_copy(o2g):
    st = SymbolTable(o2g)
    assert st.lookup_one("compute") is None
    (w,) = inlined.check_function(o2g, "compute", st)
    assert re.fullmatch(
        rf"compute has no out-of-line copy in {re.escape(o2g)}: it is inlined into "
        r"2 callers \((main|run) at 0x[0-9a-f]+, (main|run) at 0x[0-9a-f]+\), so a "
        r"probe on it would never fire \(--uprobe-inlined probes the inlined copies\)", w)


def test_inlined_with_copy(o2g):
    (w,) = inlined.check_function(o2g, "helper")
    assert w.startswith("helper is inlined into 1 caller (main at 0x")
    assert "fires only for calls that were not inlined" in w


def test_inlined_option_warns_about_args(o2g):
    (w,) = inlined.check_function(o2g, "helper", inlined=True)
    assert "arguments (arg0..argN) are not reliable at inlined sites" in w


def test_split_function(o2g):
    assert inlined.check_function(o2g, "work") == [
        "work has compiler-split parts (work.cold): code in them runs outside "
        "work and a probe on work does not see it"]


def test_nothing_to_say_at_o0(o0g):
    for f in ("compute", "helper", "work", "run", "main"):
        assert inlined.check_function(o0g, f) == [], f


def test_no_debug_info(o2):
    w = inlined.check_function(o2, "helper")
    assert w == [f"cannot tell whether helper is inlined: {o2} has no debug info"]
    assert inlined.check_function(o2, "work")[-1].startswith("cannot tell whether work")


def test_index_is_cached_per_file(o2g):
    a = inlined.index_of(o2g)
    assert inlined.index_of(o2g) is a


# ------------------------------------------------------------ the provider

class _AP:
    def __init__(self, text):
        self.raw = text
        self.parts = uprobe.split_spec(text)
        self.span = None


def _expand(text, **opts):
    return providers.expand(_AP(text), providers.ProbeOptions(**opts))


def test_provider_refuses_a_probe_that_would_never_fire(o2g):
    with pytest.raises(SemanticError, match="would never fire"):
        _expand(f"uprobe:{o2g}:compute")


def test_provider_expands_inlined_sites(o2g, capsys):
    probes = _expand(f"uprobe:{o2g}:compute", inlined=True)
    st = SymbolTable(o2g)
    want = [s.addr for s in inlined.inline_sites(o2g, "compute", st)]
    assert [p.target.vaddr for p in probes] == want
    assert {p.name for p in probes} == {f"uprobe:{o2g}:compute"}
    assert "not reliable at inlined sites" in capsys.readouterr().err
    both = _expand(f"uprobe:{o2g}:helper", inlined=True)
    assert [p.target.site for p in both] == [-1, 0]
    assert both[0].target.vaddr == st.lookup_one("helper").value


def test_provider_warns_once(o2g, capsys):
    capsys.readouterr()
    _expand(f"uprobe:{o2g}:work")
    _expand(f"uprobe:{o2g}:work")
    err = capsys.readouterr().err
    assert err.count("WARNING: work has compiler-split parts") <= 1


def test_uretprobe_cannot_probe_inlined_copies(o2g):
    with pytest.raises(SemanticError, match="uretprobes cannot probe inlined copies"):
        _expand(f"uretprobe:{o2g}:compute", inlined=True)


def test_target_records_file_identity(o2g):
    (p,) = _expand(f"uprobe:{o2g}:run")
    st = os.stat(o2g)
    assert (p.target.dev, p.target.ino) == (st.st_dev, st.st_ino)
    assert p.target.symbol == "run" and p.target.sym_offset == 0


# ------------------------------------------------------------ re-attaching

def test_watcher_reattaches_on_a_new_inode(tmp_path, o0g, monkeypatch):
    """attach.reattach without the kernel: a new file renamed over the
    probe's path is resolved again and the fds are swapped."""
    from bpfscope.attach import reattach
    path = str(tmp_path / "prog")
    shutil.copy(o0g, path)
    monkeypatch.setenv("BPFSCOPE_NO_UPROBE_MULTI", "1")  # the perf-event path, stubbed
    (probe,) = _expand(f"uprobe:{path}:run")
    opened = []

    def fake_open(p, off, ret, pid):
        opened.append((p, off))
        return 100 + len(opened)
    monkeypatch.setattr(uprobe, "open_uprobe", fake_open)
    monkeypatch.setattr(uprobe, "attach_to_perf_event", lambda prog, pfd: [pfd])
    said, swaps = [], []
    w = reattach.Watcher([(probe, 7, [50])], say=said.append)
    w.poll(lambda old, new: swaps.append((old, new)), force=True)
    assert not swaps and not said          # same inode: nothing to do
    old_ino = os.stat(path).st_ino
    shutil.copy(o0g, path + ".new")
    os.rename(path + ".new", path)
    w.poll(lambda old, new: swaps.append((old, new)), force=True)
    assert swaps == [([50], [101])]
    run = SymbolTable(path).lookup_one("run").value
    assert opened == [(path, SymbolTable(path).elf.vaddr_to_offset(run))]
    assert said == [f"Re-attached uprobe:{path}:run: {path} was replaced "
                    f"(inode {old_ino} -> {os.stat(path).st_ino})"]
