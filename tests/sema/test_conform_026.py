"""Types as bpftrace 0.26 gives them, found different by its runtime
suite: sizeof of a tuple is that of the C struct of its elements (padded
to each element's alignment); buf() of a string keeps the length given."""

import pytest

from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def expander(ap):
    return [ExpandedProbe(ap.parts[0], ap.parts[0], (), None, ap.span)]


def size_of(expr, defs=""):
    an = Analyzer(parse(Source(f"{defs} BEGIN {{ $t = {expr}; @ = sizeof($t); }}")),
                  expander, (), None).run()
    stmt = an.program.probes[0].body[-1]
    return stmt.value.size


@pytest.mark.parametrize("expr, want", [
    ("((int8)1, (int64)2, (int8)3, (int64)4)", 32),
    ("((int8)1, (int16)2, (int32)3)", 8),
    ("((int32)1, (int16)2, (int8)3)", 8),
    ("((int8)1, (int8)2)", 2),
    ("((int8)1, ((int8)2, (int32)3))", 12),
    ('((int8)1, "ab")', 4),
    ("(1, 2)", 16),
])
def test_tuple_sizes_follow_c_alignment(expr, want):
    assert size_of(expr) == want


def test_a_struct_in_a_tuple_is_aligned_as_its_members():
    defs = "struct Foo { int m; int n; }"
    assert size_of("((int32)1, *((struct Foo *)0))", defs) == 12
    assert size_of("((int8)1, *((struct Foo *)0))", defs) == 12


def test_buf_of_a_string_with_a_longer_length_keeps_that_length():
    # bpftrace: buf("ok_key", 8) is 8 bytes, zeros past the string's end
    an = Analyzer(parse(Source('BEGIN { @a = buf("ok_key", 8); @b = buf("hi", 2); }')),
                  expander, (), None).run()
    assert an.maps["@a"].value.length == 8
    assert an.maps["@b"].value.length == 2


def test_a_string_casts_to_bool_and_to_nothing_else_of_the_integers():
    an = Analyzer(parse(Source('BEGIN { $s = "ab"; $b = (bool)$s; $c = (bool)""; }')),
                  expander, (), None).run()
    assign = an.program.probes[0].body[1]
    assert isinstance(assign.value.type, T.BoolType)
    with pytest.raises(Exception, match="Cannot cast from 'string\\[3\\]' to 'int32'"):
        Analyzer(parse(Source('BEGIN { $s = "ab"; $i = (int32)$s; }')), expander, (), None).run()
