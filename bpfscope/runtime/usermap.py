"""Maps kept in user space: those keyed by what only user space can make
a key of.

A dw_ustack() key is a copy of the traced thread's stack, different at
every event; only once user space has unwound it (runtime.unwind) do two
events of the same call chain have the same key. So ``@[dw_ustack()] =
count()`` is no kernel map: each update is a ring buffer record (the key
parts, then the aggregation's argument), and :class:`UserMap` folds it
into its entry by the decoded key, with the aggregation's own ``fold``
(sema.registry). It reads back as any map (:meth:`data`), so printing,
JSON, flame graphs and the exporter take it unchanged; ``clear`` and
``zero`` work on it; a probe cannot read it. It holds at most
``max_map_keys`` keys (or its declared size), as a kernel map would: the
updates of keys past that are counted and reported, never silent.
"""

from __future__ import annotations

from ..codegen.script import MapSpec
from ..sema import registry
from .decode import decode
from .mapread import zero_value
from .values import MapData


class UserMap:
    fd = -1  # no kernel object: no program refers to it

    def __init__(self, spec: MapSpec):
        self.spec = spec
        self.entries: dict[tuple, object] = {}
        self.dropped = 0
        agg = registry.aggregation(spec.kind) if spec.kind != "plain" else None
        self._fold = agg.fold if agg is not None else None
        self._params = spec.params

    def add(self, key: tuple, arg) -> bool:
        """One update; False when the map is full and ``key`` is new."""
        old = self.entries.get(key)
        if key not in self.entries and len(self.entries) >= self.spec.max_entries:
            self.dropped += 1
            return False
        self.entries[key] = arg if self._fold is None else self._fold(old, arg, self._params)
        return True

    def clear(self) -> None:
        self.entries.clear()

    def close(self) -> None:
        self.entries = {}

    def zero(self) -> None:
        """zero(@m): the keys stay; each value starts again (None until
        the next update, shown as the empty entry's value)."""
        self.entries = dict.fromkeys(self.entries)

    def data(self) -> MapData:
        spec = self.spec
        params = spec.params
        empty = zero_value(spec)
        entries = [(k, empty if v is None else v) for k, v in self.entries.items()]
        if spec.kind in ("hist", "lhist"):
            entries = [(k, v) for k, v in entries if v]
        return MapData(spec.name, spec.kind, entries,
                       lhist=params if spec.kind == "lhist" else None,
                       hist_k=params[0] if spec.kind == "hist" and params else 0)


def on_usermap_record(session, ev, data: bytes) -> None:
    """A probe's update of a user-space map: its key parts, then (for an
    aggregation with an argument, or a plain assignment) the value."""
    m = session.maps[ev.map]
    vals = decode(ev.layout, data, 8, session.resolver, session.trailer)
    nkeys = len(m.spec.key.elems) if m.spec.key is not None else 0
    key, rest = tuple(vals[:nkeys]), vals[nkeys:]
    if not m.add(key, rest[0] if rest else 1) and m.dropped == 1:
        session.sink.warning(f"{ev.map} holds {m.spec.max_entries} keys, its most "
                             f"(max_map_keys): the updates of new keys are dropped and counted")
