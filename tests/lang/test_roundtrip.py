"""Round trip: parse, print, parse again; the trees and texts agree."""

from pathlib import Path

import pytest

from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.lang.printer import to_source

CORPUS = Path(__file__).parent / "corpus" / "programs.bt"
PROGRAMS = [p.strip() for p in CORPUS.read_text().split("// ----\n")]


def test_corpus_is_large_enough():
    assert len(PROGRAMS) >= 60


@pytest.mark.parametrize("text", PROGRAMS, ids=lambda t: t.split("\n")[0][:40])
def test_round_trip(text, same_tree):
    first = parse(Source(text))
    printed = to_source(first)
    second = parse(Source(printed))
    assert same_tree(first, second), printed
    assert to_source(second) == printed
