"""Warnings are data: found while compiling they are kept on the compiled
script (or on the error that stopped the compile), once per compile, and
printed by no library layer; outside any collection they go to stderr."""

import pytest

from bpfscope import api, passes
from bpfscope.errors import ScriptWarning, SemanticError, WarningLog, collecting, warn


def warning_pass(st):
    # what a provider does while sema expands a wildcard
    warn("something to know", key="k")
    warn("something to know", key="k")
    warn("located", span=st.program.probes[0].span)


@pytest.fixture
def warns_while_compiling(monkeypatch):
    lst = list(passes.PASSES)
    lst.insert(lst.index(next(p for p in lst if p[0] == "analysis")), ("warn", warning_pass))
    monkeypatch.setattr(passes, "PASSES", lst)


def test_compile_keeps_warnings_on_the_script_and_prints_nothing(warns_while_compiling, capsys):
    for _ in range(2):  # an embedding program compiling twice hears them twice
        script = api.compile_script("BEGIN { exit(); }", name="x.bt")
        assert [w.message for w in script.warnings] == ["something to know", "located"]
        assert script.warnings[0].format() == "WARNING: something to know"
        assert script.warnings[1].format() == (
            "x.bt:1:1-18: WARNING: located\nBEGIN { exit(); }\n" + "~" * 17)
    assert capsys.readouterr() == ("", "")


def test_an_error_carries_the_warnings_found_before_it(warns_while_compiling):
    with pytest.raises(SemanticError) as e:
        api.compile_script("BEGIN { @x = 1; @x = \"s\"; }")
    assert [w.message for w in e.value.warnings] == ["something to know", "located"]


def test_collections_nest_and_forward():
    got = []
    outer, inner = WarningLog(forward=got.append), WarningLog()
    with collecting(outer):
        warn("a")
        with collecting(inner):
            warn("b", note=True)
        warn("a")
    assert got == [ScriptWarning("a")] and inner.items == [ScriptWarning("b", note=True)]
    assert inner.items[0].format() == "b"


def test_without_a_collection_a_warning_goes_to_stderr_once(capsys, fresh_warnings):
    warn("careful", key=1)
    warn("careful", key=1)
    assert capsys.readouterr().err == "WARNING: careful\n"
