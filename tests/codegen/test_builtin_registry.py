"""A builtin variable registered by the test itself (sema.registry's
BuiltinVar) is parsed, checked by sema and lowered by codegen with no
other module knowing its name; every builtin of the language has a
record."""

import pytest

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import SemanticError, Source
from bpfscope.lang import ast, parser
from bpfscope.lang.parser import parse
from bpfscope.sema import registry
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def check_answer(an, e):
    if an.probe.provider != "BEGIN":
        an.err(f"{e.name} is only known in BEGIN", e.span)
    return T.UINT64


def lower_answer(lw, e):
    from bpfscope.codegen.loweringvalues import Int
    r = lw.b.vreg()
    lw.b.mov(r, 42 if e.name == "toy_answer" else int(e.name[len("toy_reg"):]))
    return Int(r)


@pytest.fixture
def answer():
    registry.register(registry.BuiltinVar("toy_answer", check_answer, lower=lower_answer))
    yield
    registry.unregister("toy_answer")


def expander(ap):
    return [ExpandedProbe(ap.parts[0], ap.parts[0], (), None, ap.span)]


def analyse(src):
    return Analyzer(parse(Source(src)), expander).run()


def code(an):
    return [line.split(": ", 1)[1] for line in
            compile_program(an).programs[0].program.disasm().splitlines()]


def test_a_registered_builtin_is_parsed_typed_and_lowered(answer):
    an = analyse("BEGIN { @a = toy_answer; }")
    v = an.program.probes[0].body[0].value
    assert isinstance(v, ast.Builtin) and v.type == T.UINT64
    assert code(an)[0] == "(7a) *(u64 *)(r10 -16) = 42"  # its constant, stored


def test_its_check_gives_located_errors(answer):
    with pytest.raises(SemanticError, match="toy_answer is only known in BEGIN") as err:
        analyse("END { @a = toy_answer; }")
    span = err.value.span
    assert (span.line, span.col, span.end_col) == (1, 12, 22)


def test_a_pattern_record_serves_every_name_it_matches():
    registry.register(registry.BuiltinVar(r"toy_reg\d+", check_answer, lower=lower_answer,
                                          pattern=True))
    parser.add_builtin_name("toy_reg7")  # the parser's word for it, as a pattern has none
    try:
        assert code(analyse("BEGIN { @a = toy_reg7; }"))[0] == "(7a) *(u64 *)(r10 -16) = 7"
        assert registry.builtin("toy_reg12").name == r"toy_reg\d+"
        assert registry.builtin("toy_regx") is None
    finally:
        registry.unregister(r"toy_reg\d+")
        parser.remove_builtin_name("toy_reg7")
    assert registry.builtin("toy_reg7") is None


def test_unregistered_it_is_an_identifier_again():
    assert not parser.is_builtin_name("toy_answer")
    with pytest.raises(SemanticError, match="Unknown identifier: 'toy_answer'"):
        analyse("BEGIN { @a = toy_answer; }")


def test_a_name_registered_twice_is_refused(answer):
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.BuiltinVar("toy_answer", check_answer))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.BuiltinVar(r"arg\d+", check_answer, pattern=True))


def test_every_builtin_of_the_language_has_a_record_lowered_one_way():
    names = set(parser._BUILTIN_NAMES) | {"arg0", "arg5", "sarg0", "sarg3"}
    assert set(registry.BUILTINS) <= names  # no record the parser would not reach
    for name in sorted(names):
        v = registry.builtin(name)
        assert v is not None, name
        ways = [w for w in ("lower", "store") if getattr(v, w) is not None]
        assert len(ways) == 1, (name, ways)


def test_a_builtin_without_a_record_is_unknown_at_its_place():
    with pytest.raises(SemanticError, match="Unknown builtin variable: '__builtin_nope'") as err:
        analyse("BEGIN { @a = __builtin_nope; }")
    span = err.value.span
    assert (span.line, span.col, span.end_col) == (1, 14, 28)


def test_a_record_without_lowering_fails_the_compile_not_the_run():
    registry.register(registry.BuiltinVar("toy_answer", check_answer))
    try:
        with pytest.raises(SemanticError, match="Builtin 'toy_answer' has no lowering"):
            compile_program(analyse("BEGIN { @a = toy_answer; }"))
    finally:
        registry.unregister("toy_answer")
