"""The preamble's conditional lines and string defines (lang.preproc), as
the parser applies them: what an #if leaves out is not a C definition."""

import pytest

from bpfscope.errors import Source, SyntaxErr
from bpfscope.lang import ast
from bpfscope.lang.parser import parse


def _cdefs(text):
    prog = parse(Source(text + "\nBEGIN { }"))
    return [d.text.split("{")[0].strip() for d in prog.c_definitions]


def test_btf_is_defined_so_ifndef_blocks_are_skipped():
    assert _cdefs("#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\n"
                  "struct a { int x; };\n#else\nstruct b { int y; };\n#endif") == ["struct b"]
    assert _cdefs("#ifdef BPFTRACE_HAVE_BTF\nstruct a { int x; };\n#endif") == ["struct a"]


@pytest.mark.parametrize("text, kept", [
    ("#define FOO 1\n#ifdef FOO\nstruct a { int x; };\n#endif", True),
    ("#ifdef FOO\nstruct a { int x; };\n#endif", False),
    ("#define FOO 1\n#undef FOO\n#ifdef FOO\nstruct a { int x; };\n#endif", False),
    ("#if 0\nstruct a { int x; };\n#endif", False),
    ("#if defined(BPFTRACE_HAVE_BTF)\nstruct a { int x; };\n#endif", True),
    ("#if !defined(BPFTRACE_HAVE_BTF)\nstruct a { int x; };\n#endif", False),
    ("#if 0\n#elif 1\nstruct a { int x; };\n#else\nstruct b { int x; };\n#endif", True),
    ("#ifdef NOPE\n#ifdef BPFTRACE_HAVE_BTF\nstruct a { int x; };\n#endif\n#endif", False),
])
def test_conditionals(text, kept):
    assert ("struct a" in _cdefs(text)) == kept


def test_a_string_define_is_the_string_where_its_name_is_used():
    prog = parse(Source('#define RED "\\033[31m"\nBEGIN { printf(RED); $x = RED; }'))
    call = prog.probes[0].body[0].expr
    assert isinstance(call.args[0], ast.String) and call.args[0].value == "\x1b[31m"
    assert prog.c_definitions[0].text.startswith("#define RED")


@pytest.mark.parametrize("text", ["#endif", "#else", "#ifdef X\nstruct a { int x; };"])
def test_unbalanced_conditionals_are_errors(text):
    with pytest.raises(SyntaxErr):
        parse(Source(text + "\nBEGIN { }"))
