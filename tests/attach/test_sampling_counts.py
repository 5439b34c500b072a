"""Counts and rates of software, hardware, interval and profile probes as
bpftrace 0.26 reads them: in any base, with '_' separators and in the
scientific form (``software:cpu:1e6``). No kernel needed."""

from __future__ import annotations

import pytest

from bpfscope.attach.sampling import PROVIDERS as SAMPLING
from bpfscope.attach.specs import to_count
from bpfscope.errors import SemanticError
from bpfscope.lang.parser import parse

INTERVAL, PROFILE, SOFTWARE, HARDWARE = SAMPLING


def _ap(text: str):
    return parse(text + " { }").probes[0].attach_points[0]


@pytest.mark.parametrize("text, want", [
    ("1000", 1000), ("0x10", 16), ("1_000", 1000), ("2e3", 2000), ("1E2", 100)])
def test_to_count(text, want):
    assert to_count(text) == want


@pytest.mark.parametrize("text", ["e3", "1e", "10e3", "1.5", "-1", "1e99"])
def test_to_count_refuses(text):
    assert to_count(text) is None


def test_software_count_in_scientific_form():
    [exp] = SOFTWARE.expand(_ap("software:cpu:1e6"), "software", None)
    assert exp.name == "software:cpu:1000000"
    assert exp.target[3] == 1_000_000


def test_interval_rate_in_scientific_form():
    [a] = INTERVAL.expand(_ap("interval:ms:2e2"), "interval", None)
    [b] = INTERVAL.expand(_ap("interval:ms:200"), "interval", None)
    assert a.target == b.target


def test_bad_count_still_refused():
    with pytest.raises(SemanticError, match="Invalid count of software probe: 1x6"):
        SOFTWARE.expand(_ap("software:cpu:1x6"), "software", None)
