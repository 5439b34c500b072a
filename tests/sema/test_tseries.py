"""tseries(): its arguments' checks with bpftrace 0.26's wording, and the
type of the map it is assigned to."""

import pytest

from bpfscope.errors import SemanticError
from bpfscope.sema import types as T

from .test_functions import analyze


def ts_type(call):
    return analyze(f"tracepoint:a:b {{ @m = {call}; }}").maps["@m"].value


def test_the_type_keeps_interval_count_and_aggregation():
    assert ts_type("tseries(5, 100ms, 20)") == T.AggType("tseries", True, (100_000_000, 20, ""))
    assert ts_type('tseries(-1, 10000000000, 5, "avg")') == T.AggType(
        "tseries", True, (10_000_000_000, 5, "avg"))
    # an unsigned 64-bit value keeps its signedness, as sum() does
    assert ts_type('tseries((uint64)1, 1s, 5, "sum")').signed is False
    for agg in ("max", "min", "sum"):
        assert ts_type(f'tseries(1, 1s, 5, "{agg}")').params[2] == agg


@pytest.mark.parametrize("call, msg", [
    ('tseries(1, 10000000000, 5, "stats")',
     'tseries() expects one of the following aggregation functions: avg, max, min, sum '
     '("stats" provided)'),
    ("tseries(1, 0, 10)", "tseries() interval_ns must be >= 1 (0 provided)"),
    ("tseries(1, -1, 10)", "tseries: invalid interval_ns value (must be non-negative literal)"),
    ("tseries(1, 10000000000, 0)", "tseries() num_intervals must be >= 1 (0 provided)"),
    ("tseries(1, 10000000000, -1)",
     "tseries: invalid num_intervals value (must be non-negative literal)"),
    ("tseries(1, 10000000000, 1000001)",
     "tseries() num_intervals must be < 1000000 (1000001 provided)"),
    ("tseries(1, pid, 10)", "tseries: invalid interval_ns value (must be non-negative literal)"),
    ('tseries("a", 1s, 10)', "tseries() expects an integer for argument 1"),
    ("tseries(1, 1s)", r"tseries() requires between 3 and 4 arguments (2 provided)"),
])
def test_bad_arguments_are_located_errors(call, msg):
    with pytest.raises(SemanticError) as err:
        ts_type(call)
    assert msg in str(err.value)
    assert err.value.span is not None


def test_it_is_an_aggregation_not_a_value():
    with pytest.raises(SemanticError, match=r"tseries\(\) must be assigned directly to a map"):
        analyze("tracepoint:a:b { $x = tseries(1, 1s, 5); }")
