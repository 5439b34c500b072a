"""Unreachable statements (sema/controlflow.py): bpftrace 0.26's warnings,
at the first statement that cannot run."""

import pytest

from bpfscope.errors import Source, WarningLog, collecting
from bpfscope.lang.parser import parse
from bpfscope.sema.controlflow import warn_unreachable


def warnings(body):
    text = f"BEGIN {{ {body} }}"
    with collecting(WarningLog()) as log:
        warn_unreachable(parse(Source(text)))
    return [(w.message, text[w.span.col - 1:w.span.end_col - 1]) for w in log.items]


UNREACHABLE = "Unreachable statement."


@pytest.mark.parametrize("body, what", [
    ("@a = 1; exit(); @b = 2;", "@b = 2"),
    ("return; print(1);", "print(1)"),
    ("exit(3); print(1)", "print(1)"),
    ("if 1 { return; } else { exit(); } print(1);", "print(1)"),
    ("if 1 { if 2 { return; } else { return; } } else { return; } $x = 1;", "$x = 1"),
    ("{ return; } @x = 1;", "@x = 1"),
    ("unroll(2) { exit(); } @x = 1;", "@x = 1"),
    ("for $i : 0..3 { if $i { break; } else { continue; } $x = 1; }", "$x = 1"),
    ("for $kv : @m { continue; print(1); }", "print(1)"),
    ("while 1 { break; print(3); }", "print(3)"),
    ("while 1 { return; print(3); }", "print(3)"),
    ("if 1 { return; print(1); }", "print(1)"),
])
def test_the_first_unreachable_statement_is_warned_about(body, what):
    assert warnings(body) == [(UNREACHABLE, what)]


def test_a_block_value_after_a_return():
    assert warnings("$y = { return; 1 };") == [
        ("Unreachable expression; block type is implicitly none.", "1")]


@pytest.mark.parametrize("body", [
    "if 1 { return; } print(1);",              # no else: the if may fall through
    "if 1 { return; } else { @x = 1; } print(1);",
    "for $i : 0..3 { return; } print(1);",     # a loop may run no time
    "while 0 { return; } print(1);",
    "for $i : 0..3 { break; } print(1);",      # break leaves the loop only
    "exit(1, 2); print(1);",                   # not the exit() that returns
    "print(1); return;",
    "$y = { 1 };",
])
def test_reachable_code_is_not_warned_about(body):
    assert warnings(body) == []
