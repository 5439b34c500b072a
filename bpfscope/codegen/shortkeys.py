"""Short string keys: a map keyed by one long string (``@[str(p)] =
count()``, a key of max_strlen bytes) keeps the entries whose string is
short in a second kernel map with a ``SHORT``-byte key.

The kernel's hash map hashes and compares the whole key, so a 1024-byte key
costs 3-4 times what a 64-byte one does (530 ns against 130 ns an event
here), whatever the string's length; bpftrace 0.17's strings were 64 bytes.
The program reads ``str(p)`` into the short key alone (on the stack, in a
read of ``SHORT`` bytes: a result of at most SHORT - 1 bytes, its NUL
counted, is the whole string), and reads a longer string again into the
full key (codegen.lower_maps.short_str_aggregate); another key is built
whole and its byte ``SHORT - 2`` looked at. Either way a string of at most
SHORT - 2 bytes lives in the short map, keyed by the first ``SHORT``
bytes, any other in the full one. A string always goes to the
same map, so no key is in both; user space reads, clears and zeroes the two
as one map (runtime.shortkeys), and prints exactly what one map holds.

Only maps the kernel never reads are split: aggregations that are not
histograms, in a plain (undeclared or ``hash``) map, whose every use is
``@m[k] = agg(...)`` or print/clear/zero of the whole map. A read, delete,
has_key, len or for loop keeps the one map. Each of the two holds up to
max_map_keys entries.
"""

from __future__ import annotations

from ..lang import ast
from ..sema import registry
from ..sema import types as T
from .script import MapSpec

SHORT = 64
WHOLE_MAP_CALLS = {"print", "clear", "zero"}


def short_name(name: str) -> str:
    """The short map's name: not a '@' name, so no user map."""
    return ".short" + name


def splittable(program, specs: dict[str, MapSpec]) -> list[str]:
    """The maps of ``specs`` to split, by name."""
    candidates = {name for name, s in specs.items() if _fits(s)}
    if not candidates:
        return []
    allowed: set[int] = set()
    nodes = list(ast.walk(program))
    for n in nodes:
        if isinstance(n, ast.AssignMap) and n.op == "=" and isinstance(n.value, ast.Call) \
                and registry.aggregation(n.value.name) is not None:
            allowed.add(id(n.map))
        elif isinstance(n, ast.Call) and n.name in WHOLE_MAP_CALLS and n.args \
                and isinstance(n.args[0], ast.Map) and not n.args[0].keys:
            allowed.add(id(n.args[0]))
    for n in nodes:
        if isinstance(n, ast.Map) and n.ident in candidates and id(n) not in allowed:
            candidates.discard(n.ident)
    return sorted(candidates)


def _fits(spec: MapSpec) -> bool:
    key = spec.key
    return (spec.map_type == "percpu_hash" and isinstance(spec.value, T.AggType)
            and not registry.aggregation(spec.kind).bucketed
            and key is not None and len(key.elems) == 1
            and isinstance(key.elems[0], T.StringType) and key.elems[0].length >= 2 * SHORT
            and spec.key_size == key.elems[0].length)


def split(specs: dict[str, MapSpec], name: str) -> None:
    """Add the short map of ``name`` to ``specs`` and point ``name`` at it."""
    spec = specs[name]
    short = short_name(name)
    specs[short] = MapSpec(short, spec.map_type, SHORT, spec.value_size, spec.max_entries,
                           spec.kind, T.TupleType((T.StringType(SHORT),)), spec.value)
    spec.short = (short, SHORT)
