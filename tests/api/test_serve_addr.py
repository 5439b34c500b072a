"""The exporter's ADDR (bpfscope.serve.parse_addr): loopback unless a
host is given."""

from __future__ import annotations

import pytest

from bpfscope.serve import parse_addr


@pytest.mark.parametrize("addr, want", [
    ("9435", ("127.0.0.1", 9435)),
    (":9435", ("127.0.0.1", 9435)),
    ("0.0.0.0:9435", ("0.0.0.0", 9435)),
    ("localhost:1", ("localhost", 1)),
    ("[::1]:9435", ("::1", 9435)),
    ("[::]:0", ("::", 0)),
])
def test_addresses(addr, want):
    assert parse_addr(addr) == want


@pytest.mark.parametrize("addr", ["", "host:", "host:port", "1:99999", "-1"])
def test_bad_addresses(addr):
    with pytest.raises(ValueError):
        parse_addr(addr)
