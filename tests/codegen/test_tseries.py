"""tseries()'s update in BPF: the slot is the interval number (ktime /
interval_ns) modulo num_intervals, appended to the key; a slot is
(value, meta, interval number), 24 bytes per CPU."""

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def expander(ap):
    return [ExpandedProbe(ap.parts[0], ap.parts[0], (), None, ap.span)]


def compiled(src):
    return compile_program(Analyzer(parse(Source(src)), expander).run())


def test_the_map_and_the_slot_index():
    out = compiled("BEGIN { @t[1] = tseries(7, 10s, 20); }")
    spec = out.maps["@t"]
    code = out.programs[0].program.disasm()
    assert "call bpf_ktime_get_ns#5" in code
    assert f"= {hex(10**10)}\n" in code   # the interval, too wide for an immediate
    assert "%= 20\n" in code              # the ring of 20 slots
    # the slot's tag is the interval number plus one: interval 0 (an
    # interval longer than the uptime) is not an unused slot
    assert "+= 1\n" in code.split("%= 20\n", 1)[1]
    assert spec.value_size == 24 and spec.key_size == 16 and spec.max_entries >= 20


def test_each_aggregation_updates_its_slot():
    def code(agg):
        return compiled(f'BEGIN {{ @t = tseries(7, 1s, 5{agg}); }}').programs[0].program.disasm()
    last = code("")
    assert "r0 +8) = r" in last           # the time of the value written last
    avg = code(', "avg"')
    assert "+= 1" in avg                  # avg counts its values
    assert code(', "max"') != code(', "min"')
