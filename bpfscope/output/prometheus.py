"""bpftrace maps as Prometheus metrics: the text exposition format
(version 0.0.4) and OpenMetrics 1.0, for the exporter (bpfscope --serve).

The mapping, map by map (``@name`` gives the metric ``bpfscope_name``; the
anonymous map ``@`` is ``bpfscope_map``; characters a metric name cannot
hold become ``_``):

``count()``
    a counter, ``bpfscope_<map>_total`` (OpenMetrics: family
    ``bpfscope_<map>``, sample ``bpfscope_<map>_total``).
``sum()``, ``min()``, ``max()``, integer values (``@x = 5``)
    a gauge ``bpfscope_<map>`` (a sum may go down: it adds signed values).
``avg()``, ``stats()``
    a summary without quantiles: ``bpfscope_<map>_sum`` and ``_count``.
``hist()``, ``lhist()``
    a histogram: ``bpfscope_<map>_bucket{le="..."}`` counts, cumulative,
    every value at or below ``le``. A bucket ``[lo, hi)`` of integers
    holds the values up to ``hi - 1``, so that is its ``le`` (the bucket
    of 0 in ``hist()`` is ``le="0"``, ``[2, 4)`` is ``le="3"``; the
    negatives ``le="-1"``); ``+Inf`` ends it, and ``_count`` is the
    total. ``hist()`` buckets run from the lowest to the highest bucket
    seen so far in the exporter's life, so a series keeps its buckets
    from one scrape to the next; ``lhist()`` has all its buckets.
    ``_sum`` is the total of the values counted: bpfscope keeps one per
    bucket beside its count (bpftrace keeps only the count).
other values (strings, stacks, tuples as values)
    not exported.

Keys become labels, one per key element, named after the expression
that makes the key (bpfscope.lang.names: ``@[comm, args.fd]`` gives
``comm`` and ``fd``; unnamed or repeated ones ``key0``, ``key1`` ...); a
tuple element gives one label per member (``key0_0`` ...); a name the
exposition reserves (``le``, ``quantile``, ``script``, anything starting
with ``__``) gets ``key_`` before it. Label values are the key as text,
escaped (``\\``, ``"``, newline); a stack is its folded form, frames root
first joined by ``;`` (what flame graph tools read).

At most ``max_series`` keys of a map are exported (those with the largest
values; ties by key); ``bpfscope_series_dropped{map="@x"}`` says how many
were left out at this scrape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bpfscope.runtime.values import (AvgValue, Buffer, Formatted, MapData,
                                     StatsValue, bucket_bounds, hist_index)

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PREFIX = "bpfscope_"
RESERVED_LABELS = {"le", "quantile", "script", "map"}
HIST_RANGES = 100_000  # hist series whose bucket range is remembered

_BAD_NAME = re.compile(r"[^a-zA-Z0-9_]")


@dataclass
class Family:
    """One metric family: ``samples`` are (suffix, labels, value)."""

    name: str
    type: str  # counter, gauge, summary, histogram
    help: str
    samples: list[tuple[str, list[tuple[str, str]], object]] = field(default_factory=list)


def metric_name(map_name: str) -> str:
    """``@name`` -> ``bpfscope_name``."""
    base = _BAD_NAME.sub("_", map_name.lstrip("@")) or "map"
    return PREFIX + base


def label_name(name: str) -> str:
    name = _BAD_NAME.sub("_", name) or "key"
    if name[0].isdigit() or name in RESERVED_LABELS or name.startswith("__"):
        name = "key_" + name
    return name


def label_text(v: object) -> str:
    """A key element as the text of a label value."""
    frames = getattr(v, "frames", None)
    if isinstance(frames, list):  # a stack: folded, root first
        return ";".join(reversed(frames))
    if isinstance(v, Buffer):
        return v.hex_text()
    if isinstance(v, Formatted):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(key: tuple, names: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i, elem in enumerate(key):
        name = names[i] if i < len(names) else f"key{i}"
        if isinstance(elem, tuple) and not isinstance(elem, Formatted):
            out.extend((label_name(f"{name}_{j}"), label_text(e)) for j, e in enumerate(elem))
        else:
            out.append((label_name(name), label_text(elem)))
    return out


def _size(data: MapData, v: object) -> int:
    """What ranks a series among its map's when there are too many."""
    if isinstance(v, dict):
        return sum(v.values())
    if isinstance(v, (AvgValue, StatsValue)):
        return v.count
    return v if isinstance(v, int) else 0


def _exportable(data: MapData, v: object) -> bool:
    if data.kind != "plain":
        return True
    return isinstance(v, int) and not isinstance(v, bool)


def kept_entries(data: MapData, max_series: int) -> tuple[list, int]:
    """The entries exported (at most ``max_series``, the largest) and how
    many were left out."""
    entries = [(k, v) for k, v in data.entries if _exportable(data, v)]
    if len(entries) <= max_series:
        return entries, 0
    ranked = sorted(entries, key=lambda kv: (-_size(data, kv[1]), repr(kv[0])))
    return ranked[:max_series], len(entries) - max_series


def _le(high: int | None) -> str:
    return "+Inf" if high is None else str(high - 1)


# what a map without keys that nothing was put in yet exports: a series
# from the start, so that rate() sees the first events
_NOTHING_YET = {"count": 0, "sum": 0, "min": 0, "max": 0, "hist": {}, "lhist": {},
                "avg": AvgValue(0, 0), "stats": StatsValue(0, 0)}


def map_families(data: MapData, key_names: list[str] | None = None,
                 max_series: int = 1000, extra: list[tuple[str, str]] | None = None,
                 hist_range: dict | None = None,
                 keyless: bool = False) -> tuple[list[Family], int]:
    """The families of one map and how many of its series were dropped.
    ``extra`` labels go first on every sample (the script's name);
    ``hist_range`` keeps the lowest and highest log2 bucket index seen
    per (metric, labels) between calls; ``keyless``: the map has no keys
    (empty, it exports its zero)."""
    name = metric_name(data.name)
    extra = list(extra or [])
    names = list(key_names or [])
    entries, dropped = kept_entries(data, max_series)
    if keyless and not entries and data.kind in _NOTHING_YET:
        entries = [((), _NOTHING_YET[data.kind])]
    kind = data.kind
    if kind == "count":
        fam = Family(name, "counter", f"count() of {data.name}")
    elif kind in ("avg", "stats"):
        fam = Family(name, "summary", f"{kind}() of {data.name}: _sum and _count")
    elif kind in ("hist", "lhist"):
        fam = Family(name, "histogram", f"{kind}() of {data.name}")
    else:
        fam = Family(name, "gauge", f"{kind}() of {data.name}" if kind != "plain"
                     else f"the value of {data.name}")
    for key, v in entries:
        labels = extra + _labels(key, names)
        if kind == "count":
            fam.samples.append(("_total", labels, v))
        elif kind in ("avg", "stats"):
            total = v.total if isinstance(v, (AvgValue, StatsValue)) else 0
            fam.samples.append(("_sum", labels, total))
            fam.samples.append(("_count", labels, v.count))
        elif kind in ("hist", "lhist"):
            fam.samples.extend(_hist_samples(data, v, labels, hist_range, name))
            if key in data.sums or not v:
                fam.samples.append(("_sum", labels, data.sums.get(key, 0)))
        elif kind == "tseries":  # a gauge of the latest interval's value
            if v.points and v.points[-1][1] is not None:
                fam.samples.append(("", labels, v.points[-1][1]))
        else:
            fam.samples.append(("", labels, v))
    return [fam], dropped


def _hist_samples(data: MapData, counts: dict[int, int], labels, hist_range, name):
    if data.lhist is not None:
        lo, hi, step = data.lhist
        first, last = 0, (hi - lo) // step + 1
    else:
        present = [i for i, n in counts.items() if n] or [hist_index(0, data.hist_k)]
        first, last = min(present), max(present)
        if hist_range is not None:
            if len(hist_range) > HIST_RANGES:  # keys come and go: forget the old
                hist_range.clear()
            seen = hist_range.get((name, tuple(labels)))
            if seen:
                first, last = min(first, seen[0]), max(last, seen[1])
            hist_range[(name, tuple(labels))] = (first, last)
    out = []
    total = 0
    for i in range(first, last + 1):
        total += counts.get(i, 0)
        high = bucket_bounds(data, i)[1]
        if high is None:
            break  # lhist's last bucket is the +Inf one
        out.append(("_bucket", labels + [("le", _le(high))], total))
    total = sum(counts.values())
    out.append(("_bucket", labels + [("le", "+Inf")], total))
    out.append(("_count", labels, total))
    return out


def health_families(health: dict, running: bool, dropped: dict[str, int],
                    extra: list[tuple[str, str]] | None = None) -> list[Family]:
    """The tracer's own metrics: ``health`` as bpfscope.tracer.Tracer.health()
    gives it, whether the script still runs, and the series dropped per map."""
    extra = list(extra or [])

    def one(name, typ, help_, value, labels=()):
        suffix = "_total" if typ == "counter" else ""
        return Family(PREFIX + name, typ, help_, [(suffix, extra + list(labels), value)])
    fams = [
        one("up", "gauge", "1 while the script runs, 0 once it ended", int(running)),
        one("probes_attached", "gauge", "probes the script attached", health.get("probes", 0)),
        one("lost_events", "counter", "ring buffer records lost: the buffer was full",
            health.get("lost", 0)),
    ]
    missed = Family(PREFIX + "missed_events", "counter",
                    "events the kernel skipped (a program already running on the CPU, "
                    "a kprobe's own misses)")
    for probe, n in sorted(health.get("missed", {}).items()):
        missed.samples.append(("_total", extra + [("probe", probe)], n))
    full = Family(PREFIX + "map_full", "counter",
                  "map updates that failed because the map was full")
    for name, n in sorted(health.get("map_full", {}).items()):
        full.samples.append(("_total", extra + [("map", name)], n))
    drops = Family(PREFIX + "series_dropped", "gauge",
                   "series of a map left out of this scrape (more keys than the limit)")
    for name, n in sorted(dropped.items()):
        drops.samples.append(("", extra + [("map", name)], n))
    return fams + [missed, full, drops]


def _value(v: object) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "+Inf" if v > 0 else "-Inf"
        return repr(v)
    return str(v)


def render(families: list[Family], openmetrics: bool = False) -> str:
    """The exposition of ``families``: Prometheus text, or OpenMetrics
    (which names a counter's family without ``_total`` and ends in
    ``# EOF``). Families of one name are merged (several scripts)."""
    merged: dict[str, Family] = {}
    for f in families:
        have = merged.get(f.name)
        if have is None:
            merged[f.name] = Family(f.name, f.type, f.help, list(f.samples))
        elif have.type == f.type:
            have.samples.extend(f.samples)
        # a name given two types by two scripts: the first one's stays
    lines = []
    for f in merged.values():
        family = f.name + ("_total" if f.type == "counter" and not openmetrics else "")
        lines.append(f"# HELP {family} {escape(f.help)}")
        lines.append(f"# TYPE {family} {f.type}")
        for suffix, labels, v in f.samples:
            text = ",".join(f'{k}="{escape(val)}"' for k, val in labels)
            lines.append(f"{f.name}{suffix}{{{text}}} {_value(v)}" if text
                         else f"{f.name}{suffix} {_value(v)}")
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"


def wants_openmetrics(accept: str | None) -> bool:
    """Does an Accept header ask for OpenMetrics?"""
    return accept is not None and "application/openmetrics-text" in accept
