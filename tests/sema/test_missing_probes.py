"""missing_probes: attach points that name nothing that exists."""

from __future__ import annotations

import pytest

from bpfscope.errors import MissingProbe, MissingTracepoint, SemanticError, WarningLog, collecting
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def expand(ap):
    if "nope" in ap.raw:
        raise MissingProbe(f"No matches for {ap.raw}", ap.span)
    return [ExpandedProbe(provider="tracepoint", name=ap.raw, span=ap.span)]


def names(src, expander=None):
    log = WarningLog()
    with collecting(log):
        an = Analyzer(parse(src), expander or expand, []).run()
    return [e.name for _, exps in an.expanded for e in exps], [w.message for w in log.items]


def test_error_by_default():
    with pytest.raises(MissingProbe, match="No matches for t:a:nope") as e:
        names("t:a:b, t:a:nope { }")
    assert e.value.span.col == 8


def test_a_wildcard_that_matches_nothing_is_dropped_when_others_match():
    assert names("t:a:b, t:a:nope* { }") == (["t:a:b"], [])
    with pytest.raises(SemanticError, match="No matches for t:a:nope"):
        names("t:a:nope* { }")   # alone it is still an error


def test_warn_and_ignore():
    assert names('config = { missing_probes = "warn" } t:a:b, t:a:nope { } t:a:nope2 { }') == (
        ["t:a:b"], ["No matches for t:a:nope, skipping probe.",
                    "No matches for t:a:nope2, skipping probe."])
    assert names('config = { missing_probes = "ignore" } t:a:b, t:a:nope { }') == (["t:a:b"], [])


def _tp_expand(ap):
    if "nope" in ap.raw:
        raise MissingTracepoint(f"tracepoint not found: {ap.raw[2:]}",
                                f"tracepoint:{ap.raw[2:]}", ap.span)
    return [ExpandedProbe(provider="tracepoint", name=ap.raw, span=ap.span)]


def _tp_names(src):
    return names(src, _tp_expand)


def test_a_missing_tracepoint_next_to_one_that_exists_is_warned_and_dropped():
    # bpftrace 0.26 under the default missing_probes = error
    assert _tp_names("t:a:b, t:a:nope { }") == (["t:a:b"], ["tracepoint not found: a:nope"])


def test_a_missing_tracepoint_alone_warns_then_stops():
    log = WarningLog()
    with collecting(log), pytest.raises(SemanticError) as ei:
        Analyzer(parse("t:a:nope { }"), _tp_expand, []).run()
    assert ei.value.message == ("Unable to attach probe: tracepoint:a:nope. If this is "
                                "expected, set the 'missing_probes' config variable to 'warn'.")
    assert ei.value.span is None
    [w] = log.items
    assert w.message == "tracepoint not found: a:nope" and w.span.col == 1


def test_a_missing_tracepoint_under_warn_says_skipping():
    assert _tp_names('config = { missing_probes = "warn" } t:a:b, t:a:nope { }') == (
        ["t:a:b"], ["tracepoint not found: a:nope, skipping probe."])
