"""Type rules of the byte and string functions (sema.functions): result
types and the located errors for wrong arguments, without a kernel."""

import pytest

from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ArgField, ExpandedProbe

ARGS = [
    ArgField("filename", 16, 8, False, "pointer", "const char *", user=True),
    ArgField("comm", 24, 16, False, "char_array", "char[16]", 16),
    ArgField("addr", 40, 16, False, "array", "__u8[16]", 16),
    ArgField("addr4", 56, 4, False, "array", "__u8[4]", 4),
    ArgField("mac", 60, 6, False, "array", "__u8[6]", 6),
    ArgField("n", 72, 4, True, "int", "int"),
]


def expander(ap):
    p = ap.parts
    if p[0] in ("BEGIN", "END"):
        return [ExpandedProbe(p[0], p[0], (), None, ap.span)]
    return [ExpandedProbe("tracepoint", f"tracepoint:{p[1]}:{p[2]}", (), ARGS, ap.span)]


def analyze(src, config=None):
    return Analyzer(parse(Source(src)), expander, (), config).run()


def ty(expr, probe="tracepoint:a:b", config=None):
    an = analyze(f"{probe} {{ {expr}; }}", config)
    return an.program.probes[0].body[-1].expr.type


def err(src):
    """(message, (line, col, end_col)) of the error ``src`` raises."""
    with pytest.raises(SemanticError) as ei:
        analyze(src)
    sp = ei.value.span
    return ei.value.message, (sp.line, sp.col, sp.end_col)


@pytest.mark.parametrize("expr, want", [
    ('buf(args.filename, 8)', T.BufferType(8)),
    ('buf(args.addr)', T.BufferType(16)),           # an array knows its size
    ('buf(args.addr, 4)', T.BufferType(4)),
    ('buf(args.addr, 99)', T.BufferType(16)),       # no more than the array
    ('buf(args.comm)', T.BufferType(16)),           # a char array is a string
    ('buf("hello", 3)', T.BufferType(3)),
    ('buf(args.filename, args.n)', T.BufferType(1024)),  # bounded at run time
    ('buf(args.filename, 5000)', T.BufferType(1024)),
])
def test_buf_types(expr, want):
    assert ty(expr) == want


def test_buf_is_limited_by_max_strlen():
    assert ty('buf(args.filename, 100)', config={"max_strlen": 64}) == T.BufferType(64)


@pytest.mark.parametrize("src, msg, where", [
    ('tracepoint:a:b { buf(args.filename); }',
     "buf() needs a length when reading from a pointer", (1, 18, 36)),
    ('tracepoint:a:b { buf(args.filename, 0); }', "buf() length must be positive", (1, 37, 38)),
    ('tracepoint:a:b { buf(args.filename, "x"); }',
     "buf() expects an integer for argument 2 ('string[2]' provided)", (1, 37, 40)),
    ('tracepoint:a:b { buf((1, 2), 4); }',
     "buf() expects a pointer, an array or a string ('(int64,int64)' provided)", (1, 22, 28)),
    ('tracepoint:a:b { buf(); }', "buf() requires between 1 and 2 arguments (0 provided)",
     (1, 18, 23)),
])
def test_buf_errors(src, msg, where):
    assert err(src) == (msg, where)


def test_buffers_of_different_sizes_share_a_map():
    an = analyze('tracepoint:a:b { @b = buf(args.filename, 4); @b = buf(args.filename, 8); }')
    assert an.maps["@b"].value == T.BufferType(8)
