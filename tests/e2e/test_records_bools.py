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


def test_map_declarations_set_lru_eviction_and_size(e2e):
    # an LRU map of two entries keeps the two most recent keys
    r = e2e.run_prog('let @a = lruhash(2); let @c = hash(3); '
                     'BEGIN { @a[1] = 1; @a[2] = 2; @a[3] = 3; @c = count(); exit(); }')
    assert r.stdout == "\n\n@a[2]: 2\n@a[3]: 3\n@c: 1\n"
