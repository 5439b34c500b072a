"""Maps of a running :func:`bpfscope.trace` in pandas and matplotlib, for
notebooks: :func:`to_dataframe`, :func:`plot_hist`, :func:`flamegraph`.

pandas, matplotlib and IPython are optional (``pip install
'bpfscope[notebook]'``); they are imported when a helper is called, never
by the CLI. ``examples/trace.ipynb`` shows them at work.
"""

from __future__ import annotations

from typing import Any, cast

from .output.flamegraph import render_svg
from .output.folded import samples_from_map
from .output.text import bucket_layout
from .tracer import Bucket, Stats, Tracer, _key


def _need(module: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{module} is needed for this: pip install 'bpfscope[notebook]'") \
            from None


def _at(name: str) -> str:
    return name if name.startswith("@") else "@" + name


def _key_columns(tracer: Tracer | None, name: str | None, width: int) -> list[str]:
    names = []
    if tracer is not None and name is not None:
        spec = tracer.script.maps.get(_at(name))
        names = list(getattr(spec, "key_names", None) or [])
    if len(names) != width:
        names = ["key"] if width == 1 else [f"key{i}" for i in range(width)]
    return names


def _value_columns(v: Any) -> dict[str, Any]:
    if isinstance(v, Stats):
        return {"count": v.count, "sum": v.sum, "avg": v.avg}
    return {"value": v}


def to_dataframe(source: Tracer | Any, name: str | None = None):
    """A map as a pandas DataFrame: ``to_dataframe(t, "@n")`` (columns
    named after the key expressions of the script, as the exporter's
    labels), or ``to_dataframe(t.maps["@n"])``. One row per key (a
    histogram: per key and bucket, with ``low``, ``high``, ``count``),
    a ``value`` column (``count``/``sum``/``avg`` for stats)."""
    pd = _need("pandas")
    tracer = source if isinstance(source, Tracer) else None
    if tracer is not None and name is None:
        raise TypeError("to_dataframe(tracer, name): which map?")
    value = tracer.maps[name] if tracer is not None and name is not None else source
    if not isinstance(value, dict):
        value = {(): value}
    rows: list[dict[str, Any]] = []
    width = 0
    spec = tracer.script.maps.get(_at(name)) if tracer is not None and name else None
    # one key element that is itself a tuple (a stack's frames, a tuple key)
    single = spec is not None and spec.key is not None and len(spec.key.elems) == 1
    for key, v in value.items():
        key = key if isinstance(key, tuple) and not single else (key,)
        width = len(key)
        if isinstance(v, list) and (not v or isinstance(v[0], Bucket)):
            rows.extend({"key": key, "low": b.low, "high": b.high, "count": b.count} for b in v)
        else:
            rows.append({"key": key, **_value_columns(v)})
    columns = _key_columns(tracer, name, width)
    out = []
    for row in rows:
        key = row.pop("key")
        out.append({**dict(zip(columns, key)), **row})
    df = pd.DataFrame(out)
    if "value" in df.columns and len(df) > 1:
        df = df.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)
    return df


def _bucket_labels(buckets: list[Bucket]) -> list[str]:
    def bound(n):
        return "" if n is None else str(n)
    out = []
    for b in buckets:
        if b.low is not None and b.high is not None and b.high == b.low + 1:
            out.append(f"[{b.low}]")
        else:
            out.append(f"[{bound(b.low)}, {bound(b.high)})")
    return out


def _bpftrace_labels(tracer: Tracer, name: str, key) -> list[str] | None:
    """The row labels bpftrace's text output gives the buckets of one entry."""
    data = tracer.read(name)
    for k, counts in data.entries:
        if k == () or _key(k) == key:
            layout = bucket_layout(data, cast(dict, counts), 1)
            if layout is None:
                return None
            lows = [layout.lower] + layout.labels
            his = layout.labels + [None]
            labels = []
            for lo, hi in zip(lows, his[:len(layout.counts)]):
                if lo is not None and hi is not None and lo.number is not None \
                        and hi.number == lo.number + 1:
                    labels.append(f"[{lo.text}]")
                else:
                    labels.append(f"[{lo.text if lo else ''}, {hi.text if hi else ''})")
            return labels
    return None


def plot_hist(source: Tracer | list[Bucket], name: str | None = None, key=None,
              ax=None, title: str | None = None):
    """A histogram as a matplotlib bar chart: ``plot_hist(t, "@lat")``
    (for a keyed map, ``key=`` chooses the entry) or
    ``plot_hist(t.maps["@lat"])``. Returns the Axes."""
    _need("matplotlib")
    import matplotlib.pyplot as plt
    labels = None
    if isinstance(source, Tracer):
        if name is None:
            raise TypeError("plot_hist(tracer, name): which map?")
        value = source.maps[name]
        if isinstance(value, dict):
            value = value[key]
        labels = _bpftrace_labels(source, _at(name), key)
        title = title or name
    else:
        value = source
    if labels is None or len(labels) != len(value):
        labels = _bucket_labels(value)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    ax.bar(range(len(value)), [b.count for b in value], color="#d9534f")
    ax.set_xticks(range(len(value)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("count")
    if title:
        ax.set_title(title)
    return ax


def flamegraph(tracer: Tracer, name: str, title: str | None = None):
    """A map keyed by stacks (``@[kstack] = count()``) as a flame graph,
    an IPython SVG that a notebook shows."""
    display = _need("IPython.display")
    data = tracer.read(_at(name))
    return display.SVG(render_svg(samples_from_map(data), title=title or name))
