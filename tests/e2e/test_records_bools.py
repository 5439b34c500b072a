"""Records and booleans print as bpftrace 0.26 prints them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def test_records_and_bools_in_text(e2e):
    r = e2e.run_prog('BEGIN { $r = (a=1, b="x"); @r = $r; @k[(2 > 1)] = count(); '
                     'printf("%d %s %d\\n", $r.a, $r.b, 3 < 2); print((a=1, b=(2, "c"))); exit(); }')
    assert r.stdout == ("1 x 0\n{ .a = 1, .b = (2, c) }\n\n\n"
                        "@k[true]: 1\n@r: { .a = 1, .b = x }\n")


def test_records_and_bools_in_json(e2e):
    r = e2e.run_prog('BEGIN { @r = (a=1, b="x"); @b = 2 > 1; exit(); }', "-f", "json")
    assert r.stdout.splitlines()[-2:] == ['{"type": "map", "data": {"@b": true}}',
                                          '{"type": "map", "data": {"@r": {"a": 1, "b": "x"}}}']
