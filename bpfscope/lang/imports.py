"""Imports: ``import "name";`` at the top of a script pulls in other
bpftrace scripts, as bpftrace 0.26 does.

The name is looked up in the directory of the importing script (the
current directory for ``-e``), then in the extra directories the caller
gives. A ``.bt`` file is parsed and its C definitions, map declarations,
macros, functions and probes join the program, ahead of the importer's
own, so that a dependency's BEGIN runs before its user's. A directory
brings in every ``.bt`` file directly inside it. An imported script may
import others (looked up the same way); each file comes in once, however
often it is named. It may not have a config block: there is one
configuration per program.

bpftrace can also import C headers, C sources and BPF objects, and has a
standard library of macros written in C and bpftrace; those need clang and
libbpf, which bpfscope does without, so they are reported as such. Files in
a directory anyone may write to are refused, as bpftrace refuses them.

Spans of imported code carry their file (``Span.file``), so an error in an
imported script names that script and quotes its line.
"""

from __future__ import annotations

import dataclasses
import os
import stat

from ..errors import BpfscopeError, SemanticError, Source
from . import ast
from .nesting import MAX_EXPANSION
from .parser import parse

C_KINDS = (".h", ".bpf.c", ".bpf.o")


def _world_writable(path: str) -> bool:
    try:
        return any(os.stat(p).st_mode & stat.S_IWOTH
                   for p in (path, os.path.dirname(path) or "."))
    except OSError:
        return False


class Importer:
    def __init__(self, paths: list[str]):
        self.paths = paths
        self.names: set[str] = set()
        self.files: set[str] = set()
        self.depth = 0  # imports being read, one inside the other

    def resolve(self, program: ast.Program) -> ast.Program:
        """``program`` with what its imports bring in front of its own."""
        merged = ast.Program(program.span)
        for imp in program.imports:
            for other in self.load(imp):
                for name in ("c_definitions", "map_decls", "macros", "subprogs", "probes"):
                    getattr(merged, name).extend(getattr(other, name))
        for name in ("c_definitions", "map_decls", "macros", "subprogs", "probes"):
            getattr(program, name)[:0] = getattr(merged, name)
        return program

    def load(self, imp: ast.Import) -> list[ast.Program]:
        """The programs one import brings (already resolved)."""
        if imp.path in self.names:
            return []
        self.names.add(imp.path)
        checked = []
        for base in self.paths:
            path = os.path.normpath(os.path.join(base, imp.path))
            checked.append(path)
            if not os.path.exists(path):
                continue
            if _world_writable(path):
                raise SemanticError("cowardly refusing to import from a directory with "
                                    f"global write permissions: {path}", imp.span)
            if os.path.isdir(path):
                return [self.script(imp, os.path.join(path, f))
                        for f in sorted(os.listdir(path))
                        if f.endswith(".bt") and os.path.isfile(os.path.join(path, f))]
            if path.endswith(".bt"):
                return [self.script(imp, path)]
            if path.endswith(C_KINDS):
                raise SemanticError(f"Importing {imp.path} needs clang or libbpf, which "
                                    "bpfscope does without: only .bt scripts can be imported",
                                    imp.span)
            raise SemanticError(f"unknown import type: {os.path.basename(path)}", imp.span)
        raise SemanticError("Unable to find suitable path for import", imp.span,
                            notes=["checked: " + ",".join(checked)])

    def script(self, imp: ast.Import, path: str) -> ast.Program:
        real = os.path.realpath(path)
        if real in self.files:
            return ast.Program(imp.span)
        self.files.add(real)
        if self.depth >= MAX_EXPANSION:
            raise SemanticError(f"imports nest too deeply (more than {MAX_EXPANSION} levels)",
                                imp.span)
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise SemanticError(f"error reading import '{path}': {e.strerror}", imp.span) from None
        src = Source(text, path)
        try:
            prog = parse(src)
        except BpfscopeError as e:
            e.source = e.source or src
            raise
        for node in ast.walk(prog):
            node.span = dataclasses.replace(node.span, file=src)
        if prog.config is not None and prog.config.items:
            raise SemanticError("invalid `config` within import", prog.config.span)
        self.depth += 1
        prog = self.resolve(prog)
        self.depth -= 1
        return prog


def resolve_imports(program: ast.Program, script_name: str,
                    paths: list[str] | tuple = ()) -> ast.Program:
    """Bring the scripts ``program`` imports into it (in place).
    ``script_name`` is the importing script's path ('stdin' for -e)."""
    if not program.imports:
        return program
    here = os.path.dirname(script_name) if script_name not in ("stdin", "-") else ""
    return Importer([here or ".", *paths]).resolve(program)
