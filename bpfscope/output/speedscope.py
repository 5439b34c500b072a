"""speedscope's JSON file format, ``sampled`` profile type.

One file holds ``shared.frames`` (each distinct frame name once, as
``{"name": ...}``) and one profile of type ``"sampled"`` whose ``samples``
are lists of indices into those frames, **root first** (the order
speedscope reads them in), with a parallel list of ``weights``.  Identical
stacks are merged and sorted, so the output is deterministic; a viewer's
"left heavy" view does not depend on sample order, and the time-order view
has no real time axis for aggregated bpftrace maps anyway.
``startValue`` is 0 and ``endValue`` the total weight.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from bpfscope.output.folded import Sample, merge_samples

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
UNITS = ("none", "nanoseconds", "microseconds", "milliseconds", "seconds",
         "bytes")


def to_speedscope(samples: Iterable[Sample], name: str = "bpfscope",
                  unit: str = "none", exporter: str = "bpfscope") -> dict:
    """The speedscope document as a Python dict (ready for ``json.dump``).

    ``unit`` is the unit of the weights: ``"none"`` for counts, or one of
    speedscope's time/byte units (e.g. ``"nanoseconds"`` for a ``sum()``
    of durations).
    """
    if unit not in UNITS:
        raise ValueError(f"speedscope unit must be one of {', '.join(UNITS)}")
    index: dict[str, int] = {}
    frames: list[dict] = []
    stacks: list[list[int]] = []
    weights: list[int] = []
    for stack, count in merge_samples(samples):
        ids = []
        for frame in stack:
            i = index.get(frame)
            if i is None:
                i = index[frame] = len(frames)
                frames.append({"name": frame})
            ids.append(i)
        stacks.append(ids)
        weights.append(count)
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": [{
            "type": "sampled",
            "name": name,
            "unit": unit,
            "startValue": 0,
            "endValue": sum(weights),
            "samples": stacks,
            "weights": weights,
        }],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": exporter,
    }


def format_speedscope(samples: Iterable[Sample], **options) -> str:
    """The document as compact JSON text (options as :func:`to_speedscope`)."""
    return json.dumps(to_speedscope(samples, **options), ensure_ascii=False,
                      separators=(",", ":")) + "\n"


def write_speedscope(samples: Iterable[Sample], out: TextIO, **options) -> None:
    out.write(format_speedscope(samples, **options))
