"""Positional parameters that are integers: every base bpftrace reads
(decimal, 0x, C's leading-0 octal), the rest are strings."""

import pytest

from bpfscope.sema.analyzer import param_int


@pytest.mark.parametrize("text, want", [
    ("123", 123), ("-5", -5), ("0", 0), ("0x123", 0x123), ("0775", 0o775),
    ("0xffffffffffffffff", 2**64 - 1), ("00", 0),
    ("08", None), ("hello", None), ("", None), ("1.5", None),
])
def test_param_int(text, want):
    assert param_int(text) == want


def _analyze(src, params):
    from bpfscope.errors import Source
    from bpfscope.lang.parser import parse
    from bpfscope.sema.analyzer import Analyzer
    from bpfscope.sema.probes import ExpandedProbe

    def expander(ap):
        return [ExpandedProbe("BEGIN", "BEGIN", (), None, ap.span, context="none")]
    return Analyzer(parse(Source(src)), expander, params).run()


@pytest.mark.parametrize("arg, want", [
    ("$1 + 1", "ello"), ("2 + $1", "llo"), ("$1 + 0", "hello"), ("$1 + 5", ""),
    ("$2 + 0", ""),          # a missing parameter reads as ""
])
def test_str_of_a_parameter_plus_an_offset_is_the_rest_of_its_text(arg, want):
    an = _analyze(f"BEGIN {{ $s = str({arg}); }}", ("hello",) if "$1" in arg else ("",))
    call = an.program.probes[0].body[0].value
    assert call.args[0].value == want


@pytest.mark.parametrize("arg", ["$1 + 6", "$1 - 1", "$1 * 2", "$1 + $#"])
def test_str_of_a_parameter_takes_only_an_offset_within_its_text(arg):
    from bpfscope.errors import SemanticError
    with pytest.raises(SemanticError) as ei:
        _analyze(f"BEGIN {{ $s = str({arg}); }}", ("hello",))
    assert ei.value.message == ("only addition of a single constant less or equal to the "
                                "length of $1 (which is 5) is allowed inside str()")
    assert (ei.value.span.col, ei.value.span.end_col) == (18, 18 + len(arg))
