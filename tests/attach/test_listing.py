"""-l for the probe types whose lists are fixed or come from BTF: software
and hardware events with their aliases, interval and profile units, BPF
iterators; and the registry's routing of a pattern (commas, no ':', a
probe type with wildcards). No kernel needed."""

from __future__ import annotations

import pytest

from bpfscope.attach import iter as iter_provider
from bpfscope.attach import providers
from bpfscope.attach.provider import Provider
from bpfscope.attach.sampling import PROVIDERS as SAMPLING
from tests.btf.conftest import Enc

INTERVAL, PROFILE, SOFTWARE, HARDWARE = SAMPLING


def test_software_events_and_aliases_sorted_as_bpftrace():
    lines = SOFTWARE.list("software:*", False, None)
    assert lines[:6] == ["software:alignment-faults:", "software:bpf-output:",
                         "software:context-switches:", "software:cpu-clock:",
                         "software:cpu-migrations:", "software:cpu:"]
    assert "software:cs:" in lines and "software:faults:" in lines and len(lines) == 14
    assert SOFTWARE.list("s:cpu*", False, None) == [
        "software:cpu-clock:", "software:cpu-migrations:", "software:cpu:"]
    assert SOFTWARE.list("software:nope", False, None) == []


def test_hardware_events():
    lines = HARDWARE.list("hardware:*", False, None)
    assert lines[0] == "hardware:backend-stalls:" and "hardware:cycles:" in lines
    assert HARDWARE.list("hardware:cache-*", True, None) == [
        "hardware:cache-misses:", "hardware:cache-references:"]


def test_interval_and_profile_units():
    assert INTERVAL.list("interval:*", False, None) == [
        "interval:hz:", "interval:ms:", "interval:ns:", "interval:s:", "interval:us:"]
    assert PROFILE.list("profile:hz", False, None) == ["profile:hz:"]
    assert PROFILE.list("profile:hz:99", False, None) == ["profile:hz:"]


def _iter_btf():
    e = Enc()
    meta = e.struct("bpf_iter_meta", 8, [])
    task = e.struct("task_struct", 8, [])
    u32 = e.int("u32", 4)
    i = e.int("int", 4, signed=True)
    for name, params in (("task", [("task", e.ptr(task))]),
                         ("task_file", [("task", e.ptr(task)), ("fd", u32)])):
        e.struct(f"bpf_iter__{name}", 16, [])
        proto = e.func_proto(i, [("meta", e.ptr(meta)), *params])
        e.func(f"bpf_iter_{name}", proto)
    e.func("bpf_iter_fini_tcp", e.func_proto(i, []))  # no context struct: no iterator
    e.struct("bpf_iter__orphan", 8, [])               # no function: none either
    return e.btf()


def test_iterators_from_btf():
    kb = _iter_btf()
    assert sorted(iter_provider.iterators(kb)) == ["task", "task_file"]
    assert iter_provider.list_probes(kb, "*") == ["iter:task", "iter:task_file"]
    assert iter_provider.list_probes(kb, "task_f*", verbose=True) == [
        "iter:task_file", "    struct task_struct * task", "    u32 fd"]


class Gamma(Provider):
    names = ("gamma", "gammaret")

    def list(self, pattern, verbose, options):
        return [f"[{pattern}]"]


class Hidden(Provider):
    names = ("gammahidden",)
    listed = ""

    def list(self, pattern, verbose, options):
        return [f"[{pattern}]"]


@pytest.fixture
def toys():
    made = [Gamma(), Hidden()]
    for p in made:
        providers.register(p)
    yield made
    for p in made:
        providers.unregister(p)


def test_routing(toys):
    # a wildcard type asks each provider by its listed name (not its
    # return kind, not a provider that lists nothing so)
    assert providers.listing("gam*:x*") == ["[gamma:x*]"]
    assert providers.listing("gammaret:y") == ["[gammaret:y]"]
    assert providers.listing("gammahidden:y") == ["[gammahidden:y]"]
    # each pattern of a comma list in turn, blanks dropped
    assert providers.listing("gamma:a, gamma:b") == ["[gamma:a]", "[gamma:b]"]
    assert providers.listing("nosuch:x") == []
