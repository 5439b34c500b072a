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
