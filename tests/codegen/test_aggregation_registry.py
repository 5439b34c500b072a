"""An aggregation registered by the test itself (sema.registry.Aggregation)
is checked by sema and lowered by codegen's shared map update with no
other module knowing its name."""

import pytest

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import registry
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def check_mark(an, e):
    an.nargs(e, 0)
    return T.AggType("toy_mark", True)


def add_mark(lw, p, arg, t, spec):
    lw.b.st(8, p, 0, 77)


def first_mark(lw, val, arg, spec):
    lw.b.st(8, val.base, val.off, 99)


@pytest.fixture
def mark():
    registry.register(registry.Aggregation("toy_mark", check_mark, add_mark, first_mark))
    yield
    registry.unregister("toy_mark")


def expander(ap):
    return [ExpandedProbe(ap.parts[0], ap.parts[0], (), None, ap.span)]


def analyse(src):
    return Analyzer(parse(Source(src)), expander).run()


def test_a_registered_aggregation_types_its_map_and_lowers_both_paths(mark):
    an = analyse("BEGIN { @m[1] = toy_mark(); }")
    assert an.maps["@m"].value == T.AggType("toy_mark", True)
    code = compile_program(an).programs[0].program.disasm()
    assert "(7a) *(u64 *)(r0 +0) = 77" in code  # the entry found
    assert "= 99\n" in code  # a new entry's first value


def test_it_is_no_value_and_no_operand(mark):
    with pytest.raises(SemanticError, match=r"toy_mark\(\) must be assigned directly to a map"):
        analyse("BEGIN { $x = toy_mark(); }")
    with pytest.raises(SemanticError, match=r"toy_mark\(\) cannot be used with '\+='"):
        analyse("BEGIN { @m += toy_mark(); }")
    with pytest.raises(SemanticError, match=r"toy_mark\(\) requires 0 arguments"):
        analyse("BEGIN { @m = toy_mark(1); }")


def test_without_a_merge_a_script_cannot_read_it(mark):
    with pytest.raises(SemanticError, match=r"Reading a toy_mark\(\) map is not supported"):
        analyse("BEGIN { @m = toy_mark(); $x = @m; }")


def test_unregistered_it_is_unknown():
    with pytest.raises(SemanticError, match="Unknown function: 'toy_mark'"):
        analyse("BEGIN { @m = toy_mark(); }")


def test_its_name_is_shared_with_no_function(mark):
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.Function("toy_mark", check_mark))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.Aggregation("strlen", check_mark, add_mark, first_mark))


def test_bpftrace_aggregations_are_registered():
    assert set(registry.AGGREGATIONS) >= {"count", "sum", "avg", "min", "max", "stats",
                                          "hist", "lhist"}
    assert {n for n, a in registry.AGGREGATIONS.items() if a.bucketed} >= {"hist", "lhist"}
    assert not {"hist", "lhist", "stats"} & {n for n, a in registry.AGGREGATIONS.items()
                                             if a.readable}


def test_user_space_merges_the_cpus_copies_as_the_record_says():
    """runtime.mapread takes the record's ``combine`` (min keeps the least
    of the CPUs that set their copy); without one, the copies add up."""
    from bpfscope.codegen.script import MapSpec
    from bpfscope.runtime.mapread import _merge

    def copy(value, is_set=1):
        return value.to_bytes(8, "little", signed=True) + is_set.to_bytes(8, "little")

    spec = MapSpec("@m", "percpu_hash", 8, 16, 1, kind="min", value=T.AggType("min", True))
    assert _merge(spec, [copy(5), copy(-3), copy(-9, is_set=0)]) == -3
    registry.register(registry.Aggregation("toy_mark", check_mark, add_mark, first_mark))
    try:
        spec = MapSpec("@m", "percpu_hash", 8, 8, 1, kind="toy_mark", value=T.AggType("toy_mark", True))
        assert _merge(spec, [copy(77)[:8], copy(99)[:8]]) == 176
    finally:
        registry.unregister("toy_mark")
