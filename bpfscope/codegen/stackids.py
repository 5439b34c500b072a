"""Stack ids in map keys: ``@[kstack, ustack] = count()`` keys its entries
by ids from bpf_get_stackid into stack-trace maps, not by the frames.

A copied stack makes the key about a kilobyte per stack (127 frames): the
kernel walks the stack into it, then hashes and compares the whole key in
the lookup and again in the update of a new entry, whatever the stack's
depth (5.5 us an event against bpftrace 0.17's 3.5 us, profile at 999 Hz,
kstack and ustack). bpf_get_stackid hashes only the frames there are, once,
and the key shrinks to 8 bytes a stack (16 with a user stack's pid).

One stack-trace map per kind, frame limit and build-id-ness (the limit is
the map's value size: the kernel walks that many frames, so
``@[kstack(3)]`` adds up every stack whose first three frames agree,
as the copies did). The map has max_map_keys buckets, and it never frees
one, so a stack can find its bucket taken by another stack (the
kernel's -EEXIST; never BPF_F_REUSE_STACKID, which would give the old id
to the new stack and count one stack's events under another), or every
bucket taken (-ENOMEM). Such a stack is not lost: the event goes to a
second kernel map keyed the old way, by the frames (``copies``), and user
space reads the two as one map (runtime.stackids). A stack always takes
the same path (a bucket, once taken, stays taken), so no key is in both
maps. How many went the slow way is counted (drop site 'stackid', told
with -v). An empty stack (a kernel thread's user stack: -EFAULT) is an
id of -EFAULT, not a fallback.

Only keys of maps the kernel never reads are stack ids: the map's every
use is ``@m[...] = agg(...)`` (a histogram too) or print/clear/zero of the
whole map, and the stack element is written as ``kstack``/``ustack``
itself (not a variable holding a copy). Everything else keeps copies:
a read, has_key, delete or for loop would need the lookup in both maps;
and stacks in map values, printf and other ring buffer records stay
copies: a record is decoded once as it arrives, so an id there would
only add a map read per event in user space, and a value or record
outlives nothing that a copy would not. dw_ustack is not a kstack/ustack
call and keeps its copied user stack, which DWARF unwinding needs.
"""

from __future__ import annotations

from ..lang import ast
from ..sema import registry
from ..sema import types as T
from .script import MapSpec

STACK_CALLS = ("kstack", "ustack")
WHOLE_MAP_CALLS = ("print", "clear", "zero")
BPF_F_STACK_BUILD_ID = 1 << 5
EFAULT = 14


def stack_map_name(t: T.StackType) -> str:
    """The stack-trace map of stacks of type ``t``: not a '@' name."""
    build_id = "b" if t.mode == "build_id" else ""
    return f".stacks.{t.kind[0]}{build_id}{t.limit}"


def copies_name(name: str) -> str:
    """The map that holds the entries whose stack got no id."""
    return ".copies" + name


def _flat_keys(m: ast.Map) -> list | None:
    """The key expressions of ``@m[...]``, a written tuple taken apart as
    codegen.lower_maps.map_key does; None for a tuple from elsewhere."""
    keys = list(m.keys)
    if len(keys) == 1 and isinstance(keys[0].type, T.TupleType) and keys[0].type.elems \
            and not keys[0].type.names:
        return list(keys[0].elems) if isinstance(keys[0], ast.Tuple) else None
    return keys


def _is_stack_call(e, t: T.StackType) -> bool:
    return (isinstance(e, (ast.Builtin, ast.Call)) and e.name in STACK_CALLS
            and e.type == t)


def _fits(spec: MapSpec) -> bool:
    return (spec.map_type in ("hash", "percpu_hash", "lru_hash", "lru_percpu_hash")
            and isinstance(spec.value, T.AggType) and spec.short is None
            and spec.key is not None and not spec.key.names
            and any(isinstance(e, T.StackType) and e.limit for e in spec.key.elems))


def convertible(program, specs: dict[str, MapSpec]) -> dict[str, set[int]]:
    """Map name -> the positions of its key whose stacks can be ids."""
    found = {name: {i for i, e in enumerate(s.key.elems) if isinstance(e, T.StackType)
                    and e.limit} for name, s in specs.items() if _fits(s)}
    if not found:
        return {}
    allowed: set[int] = set()  # ids of the Map nodes used as the rules say
    nodes = list(ast.walk(program))
    for n in nodes:
        if isinstance(n, ast.AssignMap) and n.op == "=" and isinstance(n.value, ast.Call) \
                and registry.aggregation(n.value.name) is not None:
            allowed.add(id(n.map))
        elif isinstance(n, ast.Call) and n.name in WHOLE_MAP_CALLS and n.args \
                and isinstance(n.args[0], ast.Map) and not n.args[0].keys:
            allowed.add(id(n.args[0]))
    for n in nodes:
        if not isinstance(n, ast.Map) or n.ident not in found:
            continue
        if id(n) not in allowed:
            found[n.ident] = set()
            continue
        if not n.keys:
            continue
        keys = _flat_keys(n)
        elems = specs[n.ident].key.elems
        if keys is None or len(keys) != len(elems):
            found[n.ident] = set()
            continue
        found[n.ident] = {i for i in found[n.ident] if _is_stack_call(keys[i], elems[i])}
    return {name: pos for name, pos in found.items() if pos}


def convert(specs: dict[str, MapSpec], name: str, positions: set[int], max_keys: int) -> None:
    """Key ``name``'s stacks at ``positions`` by id: add its map of copies
    and the stack-trace maps its ids are into."""
    spec = specs[name]
    old = spec.key
    elems = tuple(T.StackType(e.kind, e.limit, e.mode, ids=True) if i in positions else e
                  for i, e in enumerate(old.elems))
    new = T.TupleType(elems)
    extra = spec.key_size - max(8, old.size)  # a histogram's bucket index
    copies = copies_name(name)
    specs[copies] = MapSpec(copies, spec.map_type, spec.key_size, spec.value_size,
                            spec.max_entries, spec.kind, old, spec.value)
    spec.key = new
    spec.key_size = max(8, new.size) + extra
    spec.copies = copies
    for t in elems:
        if isinstance(t, T.StackType) and t.ids:
            stacks = stack_map_name(t)
            if stacks not in specs:
                specs[stacks] = MapSpec(
                    stacks, "stack_trace", 4, t.elem * t.limit, max_keys, "stackids",
                    flags=BPF_F_STACK_BUILD_ID if t.mode == "build_id" else 0)
