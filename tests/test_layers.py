"""The import structure of bpfscope/: no import cycles, and the layer order
of DESIGN.md (lang -> sema -> codegen -> bpf -> attach -> runtime ->
functions -> output), read from the source with ``ast``.

Every import counts, at module level or inside a function, absolute or
relative; ``from . import x`` is an import of submodule ``x`` when there
is one, else of the package. Besides the layers there are leaf libraries,
which any layer may use and which use only the leaves listed for them,
and the shell (api, cli, info), which may use everything and which
nothing else uses.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = "bpfscope"
ROOT = Path(__file__).resolve().parents[1] / PKG

LAYERS = ["lang", "sema", "codegen", "bpf", "attach", "runtime", "functions", "output"]

# Leaf libraries -> the leaves each may import (nothing else of bpfscope).
LEAVES = {
    "errors": set(),
    "arch": {"errors"},       # x86-64 registers and instructions
    "ksyms": set(),           # /proc/kallsyms
    "btf": {"errors", "cachedir"},        # the kernel's BTF
    "elf": {"errors", "arch", "cachedir"},  # ELF, DWARF, USDT notes, demangling
    "cachedir": set(),        # private directories under ~/.cache/bpfscope
    "startsignal": set(),     # SIGINT's default action while modules load
}

SHELL = {"api", "cli", "info", "passes", "privileges"}  # passes: the compile passes in order; privileges: the CLI's up-front capability check
# __init__: the package's front door re-exports bpfscope.trace (tracer:
# the Python API's context manager); serve: the Prometheus exporter;
# notebook: pandas/matplotlib helpers over tracer
SHELL |= {"__init__", "tracer", "serve", "notebook", "launch"}  # launch: the console script's tiny entry
SHELL |= {"compilecache"}  # the disk cache of compiled scripts (api, for the CLI)
SHELL |= {"toolcmds"}  # the tools with options (funccount, ...): scripts made from options, run by the CLI
SHELL |= {"cliopts"}  # the command line: usage, option parser, bpftrace's option checks


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PKG, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(name: str, path: Path, modules) -> set[str]:
    """The bpfscope modules that module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            if t != PKG and not t.startswith(PKG + "."):
                continue
            while t not in modules:     # a name inside a module: that module
                t = t.rpartition(".")[0]
            if t != name:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan,
    iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def unit(module: str) -> str:
    """The layer, leaf or shell module a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for mod, deps in sorted(graph.items()):
        a = unit(mod)
        for dep in sorted(deps):
            b = unit(dep)
            if a == b or a in SHELL:
                continue
            if b in SHELL:
                ok = False
            elif a in LEAVES:
                ok = b in LEAVES[a]
            elif a in LAYERS:
                ok = b in LEAVES or (b in LAYERS and LAYERS.index(b) < LAYERS.index(a))
            else:
                ok = False
            if not ok:
                out.append(f"{mod} imports {dep}")
    return out


# ------------------------------------------------------------ the rules

def test_every_module_belongs_to_a_layer_a_leaf_or_the_shell():
    stray = sorted({unit(m) for m in import_graph()} - set(LAYERS) - set(LEAVES) - SHELL)
    assert stray == [], f"not placed in tests/test_layers.py: {stray}"


def test_no_import_cycles():
    found = cycles(import_graph())
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_layers_import_only_earlier_layers_and_leaves():
    bad = layer_violations(import_graph())
    assert bad == [], "against the layer order:\n" + "\n".join(bad)


def test_codegen_does_not_talk_to_the_kernel_through_runtime_or_attach():
    graph = import_graph()
    bad = [f"{m} imports {d}" for m, deps in graph.items() if unit(m) == "codegen"
           for d in deps if unit(d) in ("runtime", "attach", "bpf", "btf", "ksyms")]
    assert bad == []


# ------------------------------------------------------------ the checker itself

def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    # function level: sema.analyzer imports btf inside kernel_function
    assert "bpfscope.btf" in graph["bpfscope.sema.analyzer"]
    # "from . import kfuncs, tracefs" names two submodules
    assert {"bpfscope.attach.kfuncs", "bpfscope.attach.tracefs"} <= \
        graph["bpfscope.attach.rawtracepoint"]
    # "from .. import btf" is the btf package
    assert "bpfscope.btf" in graph["bpfscope.attach.kfuncs"]
    # a name imported from a module is an import of that module
    assert "bpfscope.sema.registry" in graph["bpfscope.functions.symbols"]


def test_cycles_and_violations_are_found(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d2"}, "d2": {"d"}, "e": {"a"}}
    assert cycles(graph) == [["a", "b", "c"], ["d", "d2"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    fake = {"bpfscope.codegen.x": {"bpfscope.runtime.y", "bpfscope.btf", "bpfscope.sema.z"},
            "bpfscope.btf": {"bpfscope.elf"}, "bpfscope.elf": {"bpfscope.arch"},
            "bpfscope.lang.p": {"bpfscope.api"}, "bpfscope.api": {"bpfscope.runtime.y"}}
    assert layer_violations(fake) == ["bpfscope.btf imports bpfscope.elf",
                                      "bpfscope.codegen.x imports bpfscope.runtime.y",
                                      "bpfscope.lang.p imports bpfscope.api"]


@pytest.mark.parametrize("source, want", [
    ("from . import sibling\n", {"bpfscope.lang.sibling"}),
    ("from .sibling import thing\n", {"bpfscope.lang.sibling"}),
    ("from .. import errors\n", {"bpfscope.errors"}),
    ("from ..sema import types as T\n", {"bpfscope.sema.types"}),
    ("def f():\n    import bpfscope.runtime.child\n", {"bpfscope.runtime.child"}),
    ("import os\nfrom typing import Any\n", set()),
])
def test_import_resolution(tmp_path, source, want):
    path = tmp_path / "mod.py"
    path.write_text(source)
    modules = {"bpfscope", "bpfscope.errors", "bpfscope.lang", "bpfscope.lang.mod",
               "bpfscope.lang.sibling", "bpfscope.sema", "bpfscope.sema.types",
               "bpfscope.runtime", "bpfscope.runtime.child"}
    assert imported("bpfscope.lang.mod", path, modules) == want


def test_codegen_reads_sema_results_without_calling_the_analyser():
    """Lowering consumes what sema declared (Analyzer.typed_probes, node
    annotations such as const_value and kfunc, data such as config): no
    analyser method is called from codegen or from a function's lowering."""
    calls = re.compile(r"\ban\.(\w+)\(")
    bad = []
    for path in sorted((ROOT / "codegen").glob("*.py")) + sorted((ROOT / "functions").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in calls.finditer(line):
                in_lowering = path.parent.name == "codegen" or "lw.sc.an." in line
                if in_lowering and m.group(1) != "typed_probes":
                    bad.append(f"{path.relative_to(ROOT)}:{n}: an.{m.group(1)}()")
    assert bad == []
