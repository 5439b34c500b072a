"""The compile passes: one ordered list (bpfscope/passes.py) that
compile_script runs, and a type fixpoint that either converges or says it
did not."""

import pytest

from bpfscope import api, passes
from bpfscope.errors import InternalError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def begin_only(ap):
    return [ExpandedProbe("BEGIN", "BEGIN", (), None, ap.span)]


def test_the_passes_run_in_the_documented_order():
    assert [name for name, _ in passes.PASSES] == [
        "parse", "imports", "macros", "user functions", "scopes", "unreachable", "named params",
        "printf arity", "analysis", "printf types", "codegen"]


def test_compile_script_runs_exactly_the_listed_passes(monkeypatch):
    seen = []
    wrapped = [(name, (lambda fn, name: lambda st: (seen.append(name), fn(st)))(fn, name))
               for name, fn in passes.PASSES]
    monkeypatch.setattr(passes, "PASSES", wrapped)
    script = api.compile_script('BEGIN { printf("%d\\n", 1); exit(); }')
    assert seen == [name for name, _ in wrapped]
    assert [p.name for p in script.programs] == ["begin"]


def test_a_pass_added_to_the_list_sees_the_program(monkeypatch):
    found = []
    lst = list(passes.PASSES)
    lst.insert(lst.index(next(p for p in lst if p[0] == "analysis")),
               ("count probes", lambda st: found.append(len(st.program.probes))))
    monkeypatch.setattr(passes, "PASSES", lst)
    api.compile_script("BEGIN { @a = 1; } END { @b = 2; }")
    assert found == [2]


def chain(n: int) -> str:
    # each map is read before the statement that gives it a type
    return "BEGIN { " + "; ".join(f"@a{i} = @a{i + 1}" for i in range(n)) + f"; @a{n} = 1; }}"


def test_a_long_chain_of_maps_typed_later_converges():
    # eight fixed passes left @a0..@a21 untyped ("Undefined map: @a1")
    an = Analyzer(parse(Source(chain(30))), begin_only).run()
    assert all(an.maps[f"@a{i}"].value == T.INT64 for i in range(31))


def test_a_fixpoint_that_never_settles_is_an_internal_error():
    class Restless(Analyzer):
        def analyze_probe(self, probe, exp, final=True):
            scope = super().analyze_probe(probe, exp, final)
            self._changed = True    # as if some type widened on every pass
            return scope

    with pytest.raises(InternalError, match=r"internal error: type analysis did not "
                                            r"converge after \d+ passes"):
        Restless(parse(Source("BEGIN { @a = 1; $x = 2; }")), begin_only).run()
