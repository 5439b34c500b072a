"""sizeof of a tuple is that of the C struct of its elements, padded to
each element's alignment (bpftrace 0.26 lays tuples out as structs)."""

import pytest

from bpfscope.errors import Source
from bpfscope.lang.parser import parse
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
