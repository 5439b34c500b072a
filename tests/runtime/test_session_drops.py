"""Drops at exit and while running: Session.check_lost / report_drops turn
the per-CPU LOST array (slot 0: ring buffer records that did not fit; slot
i: the drop site i of codegen.script.DropSite) into bpftrace's lines and
bpfscope's JSON records. The kernel tests that cause each drop are in
tests/e2e/test_stack_drops.py (a failed stack walk is made in
tests/vm/guest/test_stack_errors.py: this kernel walks every stack)."""

import io
import json
from types import SimpleNamespace

from bpfscope.codegen.script import LOST, DropSite
from bpfscope.errors import Source, Span
from bpfscope.output.json import JsonOutput
from bpfscope.output.text import TextOutput
from bpfscope.runtime import session as S

SRC = Source('tracepoint:a:b { @[kstack] = count(); @s[str(arg0)] = count(); }')


class Lost:
    """The LOST array: one element of counters (here what two CPUs added)."""

    def __init__(self, slots: dict[int, tuple[int, int]]):
        self.slots = slots

    def lookup(self, key: bytes):
        assert key == b"\0" * 4
        n = max(self.slots, default=0) + 1
        return b"".join(sum(self.slots.get(i, (0, 0))).to_bytes(8, "little") for i in range(n))


def session(sink, slots, verbose=False):
    sites = [DropSite("stack", "kstack", Span(1, 22, 1, 28)),
             DropSite("full", "@", Span(1, 18, 1, 37)),
             DropSite("strcut", "str", Span(1, 42, 1, 51)),
             DropSite("stackid", "@", Span(1, 18, 1, 37)),
             DropSite("stackid_lost", "@", Span(1, 18, 1, 37))]
    sess = S.Session.__new__(S.Session)
    sess.verbose = verbose
    sess.script = SimpleNamespace(drop_sites=sites, source=SRC, config={"max_strlen": 64})
    sess.sink, sess.maps = sink, {LOST: Lost(slots)}
    sess._lost_seen, sess._warned = 0, set()
    return sess


def test_text_reports_are_one_line_each_at_their_place():
    err = io.StringIO()
    sess = session(TextOutput(io.StringIO(), err), {0: (3, 4), 1: (2, 0), 2: (0, 1), 3: (1, 5)})
    sess.check_lost()
    sess.check_lost()  # a full map is said once, lost records only when more
    sess.report_drops()
    assert err.getvalue().splitlines() == [
        "Lost 7 events",
        "stdin:1:18-37: WARNING: Map full; can't update element. Try increasing max_map_keys "
        "config or manually setting the max entries in a map declaration e.g. "
        "`let @a = hash(5000)`",
        SRC.line_text(1),
        " " * 17 + "~" * 19,
        "stdin:1:22-28: WARNING: kstack: 2 stacks could not be read (bpf_get_stack failed) "
        "and were counted as empty stacks",
        "stdin:1:42-51: WARNING: str(): 6 strings were cut at max_strlen (64 bytes); "
        "raise max_strlen to keep them whole"]


def test_json_records():
    out = io.StringIO()
    sess = session(JsonOutput(out, io.StringIO()), {0: (0, 1), 1: (0, 9), 3: (2, 0)})
    sess.check_lost()
    sess.report_drops()
    assert [json.loads(x) for x in out.getvalue().splitlines()] == [
        {"type": "lost_events", "count": 1, "data": {"events": 1}},
        {"type": "stack_errors", "count": 9, "data": {
            "stack": "kstack", "stacks": 9, "filename": "stdin", "line": 1, "col": 22}},
        {"type": "truncated_strings", "count": 2, "data": {
            "function": "str", "strings": 2, "max_strlen": 64, "filename": "stdin",
            "line": 1, "col": 42}}]


def test_nothing_dropped_says_nothing():
    out, err = io.StringIO(), io.StringIO()
    sess = session(TextOutput(out, err), {})
    sess.check_lost()
    sess.report_drops()
    assert out.getvalue() == err.getvalue() == ""


def test_stacks_sent_to_the_copies_are_told_with_v_only():
    slots = {4: (5, 4), 5: (1, 2), 2: (0, 3)}
    err = io.StringIO()
    sess = session(TextOutput(io.StringIO(), err), slots, verbose=True)
    sess.report_drops()
    assert err.getvalue().splitlines() == [
        "stdin:1:18-37: @: 9 events' stacks got no stack id (their stack map bucket held "
        "another stack, or it was full) and went to a map of copies (6 kept, 3 lost: that "
        "map is full); raise max_map_keys for fewer"]
    quiet = io.StringIO()
    session(TextOutput(io.StringIO(), quiet), slots).report_drops()
    assert quiet.getvalue() == ""
    err = io.StringIO()
    session(TextOutput(io.StringIO(), err), {4: (2, 0)}, verbose=True).report_drops()
    assert "went to a map of copies (none lost)" in err.getvalue()
    out = io.StringIO()
    session(JsonOutput(out, io.StringIO()), slots, verbose=True).report_drops()
    assert [json.loads(x) for x in out.getvalue().splitlines()] == [
        {"type": "stack_copies", "count": 9, "data": {
            "map": "@", "events": 9, "lost": 3, "filename": "stdin", "line": 1, "col": 18}}]
