"""Imports of .bt scripts: where names are looked for, what joins the
program and in which order, files brought in once, and the errors, which
name the imported file when the problem is in it."""

import os

import pytest

from bpfscope.errors import BpfscopeError, SemanticError, Source
from bpfscope.lang import ast
from bpfscope.lang.imports import resolve_imports
from bpfscope.lang.parser import parse


@pytest.fixture
def tree(tmp_path):
    """A private directory (imports refuse world-writable ones)."""
    os.chmod(tmp_path, 0o700)

    def write(name, text):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)
    write.root = tmp_path
    return write


def load(tree, text, name="main.bt"):
    path = tree(name, text)
    return resolve_imports(parse(Source(text, path)), path)


def probe_names(prog):
    return [p.body[0].expr.args[0].value for p in prog.probes]


def test_imported_scripts_come_first_and_once(tree):
    tree("lib/base.bt", 'let @m = hash(2); BEGIN { printf("base"); }')
    tree("lib/util.bt", 'import "lib/base.bt"; macro two() { 2 } fn one(): int64 { return 1; } '
                        'BEGIN { printf("util"); }')
    prog = load(tree, 'import "lib/util.bt"; import "lib/base.bt"; import "lib/util.bt"; '
                      'BEGIN { printf("main"); }')
    assert probe_names(prog) == ["base", "util", "main"]
    assert [d.name for d in prog.map_decls] == ["m"]
    assert [m.name for m in prog.macros] == ["two"]
    assert [f.name for f in prog.subprogs] == ["one"]


def test_a_directory_brings_its_scripts_in_name_order(tree):
    tree("pkg/b.bt", 'BEGIN { printf("b"); }')
    tree("pkg/a.bt", 'BEGIN { printf("a"); }')
    tree("pkg/notes.txt", "not a script")
    tree("pkg/sub/c.bt", 'BEGIN { printf("c"); }')
    assert probe_names(load(tree, 'import "pkg"; BEGIN { printf("main"); }')) == [
        "a", "b", "main"]


def test_import_cycles_end(tree):
    tree("a.bt", 'import "b.bt"; BEGIN { printf("a"); }')
    tree("b.bt", 'import "a.bt"; BEGIN { printf("b"); }')
    assert probe_names(load(tree, 'import "a.bt"; BEGIN { printf("main"); }')) == [
        "b", "a", "main"]


def test_spans_of_imported_code_name_their_file(tree):
    path = tree("lib.bt", "BEGIN {\n  $x = 1;\n}\n")
    prog = load(tree, 'import "lib.bt"; BEGIN { }')
    imported, own = prog.probes
    assert imported.body[0].span.file.name == path
    assert imported.body[0].span.file.line_text(2) == "  $x = 1;"
    assert own.span.file is None


def error(tree, text):
    with pytest.raises(BpfscopeError) as ei:
        load(tree, text)
    return ei.value


def test_missing_import(tree):
    e = error(tree, 'import "nope.bt"; BEGIN { }')
    assert isinstance(e, SemanticError)
    assert e.message == "Unable to find suitable path for import"
    assert (e.span.line, e.span.col, e.span.end_col) == (1, 1, 18)
    assert e.notes == [f"checked: {tree.root / 'nope.bt'}"]


def test_errors_inside_an_imported_file_are_shown_there(tree):
    path = tree("lib.bt", "BEGIN {\n  $x = = 1;\n}\n")
    e = error(tree, 'import "lib.bt"; BEGIN { }')
    assert e.format() == (f"{path}:2:8-9: ERROR: syntax error, unexpected =\n"
                          "  $x = = 1;\n"
                          "       ~")
    tree("lib.bt", "config = { max_strlen = 8 }\nBEGIN { }\n")
    e = error(tree, 'import "lib.bt"; BEGIN { }')
    assert e.format().splitlines()[0] == f"{path}:1:1-28: ERROR: invalid `config` within import"


@pytest.mark.parametrize("name, message", [
    ("x.h", "Importing x.h needs clang or libbpf, which bpfscope does without: only .bt "
            "scripts can be imported"),
    ("x.bpf.c", "Importing x.bpf.c needs clang or libbpf, which bpfscope does without: only .bt "
                "scripts can be imported"),
    ("x.txt", "unknown import type: x.txt"),
])
def test_what_cannot_be_imported(tree, name, message):
    tree(name, "")
    assert error(tree, f'import "{name}"; BEGIN {{ }}').message == message


def test_world_writable_directories_are_refused(tree):
    tree("open/lib.bt", "BEGIN { }")
    os.chmod(tree.root / "open", 0o777)
    e = error(tree, 'import "open/lib.bt"; BEGIN { }')
    assert e.message == ("cowardly refusing to import from a directory with global write "
                         f"permissions: {tree.root / 'open' / 'lib.bt'}")
