"""Reading bpftrace maps back from the kernel as runtime.values.MapData.

Per-CPU aggregation maps are merged here: counts and sums add up, min/max
take the extreme of the CPUs whose slot was set, histograms add bucket by
bucket.
"""

from __future__ import annotations

from ..codegen.script import MapSpec
from ..sema import registry
from ..sema import types as T
from .decode import compile_decoder, decode, decode_key, is_plain_int, s64, to_int, u64
from ..sema.valuetext import monotonic_to_wall_ns
from .values import MapData, TSeriesValue, int_div


def _merge(spec: MapSpec, per_cpu: list[bytes]):
    """One aggregation entry merged over the CPUs, as its record says."""
    signed = getattr(spec.value, "signed", True)
    agg = registry.aggregation(spec.kind)
    if agg is None:
        raise ValueError(f"no aggregation {spec.kind!r}")
    if agg.combine is not None:
        return agg.combine(per_cpu, signed)
    # the CPUs' parts add up as one 64-bit counter would (an unsigned sum
    # of +x on one CPU and -x on another is 0, not 2**64)
    total = sum(s64(v) for v in per_cpu)
    return to_int(total, T.IntType(64, signed))


def read_map(spec: MapSpec, bpf_map, resolver=None, trailer: str = "") -> MapData:
    """Every entry of one map, merged over CPUs; ``resolver`` symbolizes
    stacks in keys and values; ``trailer`` ends strings that fill their
    buffer (str_trunc_trailer)."""
    if hasattr(bpf_map, "parts"):  # one map in two (runtime.stackids)
        got = [read_map(s, m, resolver, trailer) for s, m in bpf_map.parts(spec)]
        entries = dict(got[0].entries)
        sums = dict(got[0].sums)
        for key, v in got[1].entries:
            entries[key] = _join(spec.kind, entries[key], v) if key in entries else v
            sums[key] = sums.get(key, 0) + got[1].sums.get(key, 0)
        return MapData(spec.name, spec.kind, list(entries.items()), lhist=got[0].lhist,
                       hist_k=got[0].hist_k, sums={k: v for k, v in sums.items() if v})
    items = bpf_map.items()
    kind = spec.kind
    ksize = spec.user_key_size
    entries: dict[tuple, object] = {}
    sums: dict[tuple, int] = {}
    if kind in ("hist", "lhist"):
        for raw_key, val in items:
            key = decode_key(spec.key, raw_key[:ksize], resolver, trailer)
            bucket = u64(raw_key, ksize)
            n = _merge(spec, val)
            buckets = entries.setdefault(key, {})  # a zeroed key stays, empty
            if n:
                buckets[bucket] = buckets.get(bucket, 0) + n
                if len(val[0]) >= 16:  # each bucket's total of its values after its count
                    sums[key] = sums.get(key, 0) + sum(s64(v, 8) for v in val)
    elif kind == "tseries":
        entries = read_tseries(spec, items, lambda raw: decode_key(spec.key, raw[:ksize], resolver,
                                                                    trailer))
    elif kind == "plain":
        key_of = _key_decoder(spec, resolver, trailer)
        value_of = _plain_int(spec.value)
        for raw_key, val in items:
            if isinstance(val, list):  # declared per-CPU: integers, added up
                v = sum(decode(spec.value, x, 0, resolver) for x in val)
            elif value_of is not None:
                v = value_of(val)
            else:
                v = decode(spec.value, val, 0, resolver, trailer)
            entries[key_of(raw_key)] = v
    else:
        key_of = _key_decoder(spec, resolver, trailer)
        for raw_key, val in items:
            entries[key_of(raw_key)] = _merge(spec, val)
    if spec.map_type == "percpu_array":
        # every index exists in an array: show those something was put in
        entries = {k: v for k, v in entries.items() if not _untouched(v)}
    if not entries and keyless(spec):
        # as bpftrace 0.26, a map without keys always has its one value:
        # never set, deleted or cleared, it prints as zero ('@: 0')
        entries[()] = zero_value(spec, resolver, trailer)
    params = spec.params
    return MapData(spec.name, kind, list(entries.items()),
                   lhist=params if kind == "lhist" else None,
                   hist_k=params[0] if kind == "hist" and params else 0, sums=sums)


def _join(kind: str, a, b):
    """Two parts' values of one key: a stack stored by id on one CPU while
    another CPU's store of a different stack took its bucket (the kernel's
    race, codegen.stackids) can be in both maps."""
    if kind in ("hist", "lhist"):
        return {i: a.get(i, 0) + b.get(i, 0) for i in a.keys() | b.keys()}
    if kind in ("count", "sum"):
        return a + b
    if kind in ("min", "max"):
        return (min if kind == "min" else max)(a, b)
    return a


def tseries_slot(per_cpu: list[bytes], signed: bool, agg: str):
    """One slot of a tseries() map merged over the CPUs: (interval
    number, value) of the latest interval a CPU holds in it, those CPUs'
    parts combined as ``agg`` says (functions.aggregates lays slots out,
    tagged with the interval number plus one); None for a slot never used."""
    num = s64 if signed else u64
    parts = [(u64(v, 16), num(v), u64(v, 8)) for v in per_cpu if u64(v, 16)]
    if not parts:
        return None
    epoch = max(p[0] for p in parts)
    parts = [p for p in parts if p[0] == epoch]
    vals = [p[1] for p in parts]
    if agg == "":  # the value written last: its time is the meta
        value = max(parts, key=lambda p: p[2])[1]
    elif agg == "avg":
        value = int_div(sum(vals), sum(p[2] for p in parts))
    elif agg == "sum":
        value = sum(vals)
    else:
        value = (min if agg == "min" else max)(vals)
    return epoch - 1, value


def read_tseries(spec: MapSpec, items, key_of) -> dict:
    """The keys of a tseries() map, each a TSeriesValue of the intervals
    from its first one kept up to the latest interval of any key (the
    older ones a slot still holds are out of the window), as bpftrace
    0.26 lays them out; an interval no event fell in has None."""
    interval, n, agg = spec.params
    signed = getattr(spec.value, "signed", True)
    slots: dict[tuple, dict[int, int]] = {}
    for raw_key, val in items:
        got = tseries_slot(val, signed, agg)
        per_key = slots.setdefault(key_of(raw_key), {})
        if got is not None:
            per_key[got[0]] = got[1]
    last = max((e for per_key in slots.values() for e in per_key), default=0)
    wall = monotonic_to_wall_ns()
    out = {}
    for key, per_key in slots.items():
        kept = [e for e in per_key if e > last - n]
        if not kept:
            continue
        out[key] = TSeriesValue(interval, tuple(
            (e * interval + wall, per_key.get(e)) for e in range(min(kept), last + 1)))
    return out


def keyless(spec: MapSpec) -> bool:
    """Whether the map has no bpftrace key (``@x = ...``, ``@ = count()``)."""
    return spec.key is None or not spec.key.elems


def zero_value(spec: MapSpec, resolver=None, trailer: str = ""):
    """The value of a map entry nothing was stored in: 0, an empty string,
    a tuple or record of those, an empty histogram, empty stats."""
    kind = spec.kind
    if kind in ("hist", "lhist"):
        return {}
    if kind == "tseries":
        return TSeriesValue(spec.params[0])
    if kind != "plain":  # the aggregation's merge of one CPU's empty entry
        return _merge(spec, [b"\0" * max(spec.value_size, 16)])
    return decode(spec.value, b"\0" * max(spec.value_size, 8), 0, resolver, trailer)


def _key(spec: MapSpec, raw_key: bytes, resolver, trailer: str = ""):
    # an array's u32 index stands for bpftrace's 8-byte integer key
    return decode_key(spec.key, raw_key.ljust(spec.user_key_size, b"\0"), resolver, trailer)


def _key_decoder(spec: MapSpec, resolver, trailer: str):
    """raw key -> key, through one struct.Struct where the key is plain
    integers and strings (a 100,000-key map decodes 4x faster); the
    general decode for the rest and where strings take the trailer."""
    key_t = spec.key
    if (key_t is None or not key_t.elems or key_t.names or "array" in spec.map_type
            or (trailer and any(isinstance(e, T.StringType) for e in key_t.elems))):
        return lambda raw: _key(spec, raw, resolver, trailer)
    fast = compile_decoder(key_t, resolver)
    return lambda raw: fast(raw, 0)


def _plain_int(t):
    """raw value -> int for a plain integer value (None for other types)."""
    if not is_plain_int(t):
        return None
    bits, signed = getattr(t, "bits", 64), getattr(t, "signed", False)
    if bits == 64:
        return lambda raw: int.from_bytes(raw[:8], "little", signed=signed)
    return lambda raw: to_int(int.from_bytes(raw[:8], "little"), t)


def _untouched(v) -> bool:
    return v == 0 or getattr(v, "count", None) == 0


def zero_map(spec: MapSpec, bpf_map) -> None:
    """zero(@m): keep the keys, reset the values."""
    if hasattr(bpf_map, "parts"):
        for s, m in bpf_map.parts(spec):
            zero_map(s, m)
        return
    zero = b"\0" * spec.value_size  # one value serves every CPU
    for k in bpf_map.keys():
        bpf_map.update(k, zero)
