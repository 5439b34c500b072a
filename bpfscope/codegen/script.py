"""What compiling a script produces: programs, map specs and event specs.

The runtime needs all three to load, attach and decode: a ``MapSpec`` says
how to create a kernel map and how to read its bytes back (the sema
``MapInfo`` types), an ``EventSpec`` says how to decode one kind of ring
buffer record (printf, print, exit, time, clear, zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sema import types as T
from ..sema.probes import ExpandedProbe

# Map names private to the runtime: they cannot clash with '@...' names.
RINGBUF = ".events"
LOST = ".lost"
# exit() sets (1, code) here rather than only sending a record: a full ring
# buffer must not be able to swallow the request to stop.
EXIT = ".exit"
# Temporaries too large for the BPF stack (codegen.lower.stack_mem).
SCRATCH = ".scratch"
# Pids whose user stacks were taken: user space reads their mappings while
# they run, so their stacks still resolve after they exit.
USTACK_PIDS = ".upids"


@dataclass
class DropSite:
    """A place in the script whose losses one slot of the LOST array counts
    (slot 0 counts ring buffer records that did not fit). ``kind``:
    'full' (a map update failed: the map is full), 'stack' (the walk of
    bpf_get_stack or bpf_get_stackid failed and the stack was left empty), 'stackid' (bpf_get_stackid gave
    no id: the stack's bucket of the stack-trace map holds another stack,
    or the map is full; the event went to the map of copies),
    'stackid_lost' (of those, the events the full map of copies dropped), 'strcut' (str() cut a string at
    max_strlen), 'lookup'/'delete' (with -k: a map read or a delete found
    no element). ``name`` is the map, 'kstack'/'ustack', or the function."""
    kind: str
    name: str
    span: object = None


@dataclass
class MapSpec:
    """One kernel map. ``kind`` is the bpftrace value kind ('plain',
    'count', 'sum', 'min', 'max', 'avg', 'stats', 'hist', 'lhist', 'tseries') or
    'ringbuf'/'lost' for the runtime's own maps; ``key`` holds the bpftrace
    key's element types (the kernel key of a hist/lhist map has an extra
    8-byte bucket index after them)."""
    name: str
    map_type: str  # 'hash', 'percpu_hash', 'percpu_array', 'ringbuf'
    key_size: int
    value_size: int
    max_entries: int
    kind: str = "plain"
    key: T.TupleType | None = None
    value: T.Type | None = None
    # one name per key element, from the script (lang.names): the labels
    # of the exporter's series
    key_names: list[str] | None = None
    # (name, key size) of the map that holds the entries of a long string
    # key whose string is short (codegen.tiers): one map to user space
    short: tuple[str, int] | None = None
    # the map of the entries whose key's stacks got no stack id, keyed by
    # the frames (codegen.stackids): one map to user space
    copies: str | None = None
    flags: int = 0  # map_flags at creation (a build-id stack map's BPF_F_STACK_BUILD_ID)

    @property
    def user_key_size(self) -> int:
        """Bytes of the bpftrace key inside the kernel key."""
        return max(8, self.key.size) if self.key is not None else 8

    @property
    def params(self) -> tuple:
        return self.value.params if isinstance(self.value, T.AggType) else ()


@dataclass
class EventSpec:
    """One kind of ring buffer record; its ``id`` is the record's first
    8 bytes. ``args`` are the types of the values that follow, each on an
    8-byte boundary (see sema.types). ``map`` names the map of print,
    clear and zero; ``fmt`` is printf's or time()'s format string."""
    id: int
    kind: str  # 'printf', 'errorf', 'warnf', 'print_map', 'print_value', 'exit', 'time', ...
    # (an exit record only wakes user space; the code is in the EXIT map)
    fmt: str = ""
    args: list[T.Type] = field(default_factory=list)
    map: str = ""
    top: int = 0
    div: int = 1
    span: object = None  # errorf/warnf: where in the script the call is
    names: list[str] = field(default_factory=list)  # printf: a name per argument (lang.names)

    @property
    def layout(self) -> T.TupleType:
        return T.TupleType(tuple(self.args))


@dataclass
class ProgSpec:
    probe: ExpandedProbe
    prog_type: str  # the kernel's name in lower case: 'tracepoint', 'perf_event', ...
    program: object  # codegen.assemble.Program
    name: str = ""


@dataclass
class CompiledScript:
    programs: list[ProgSpec]
    maps: dict[str, MapSpec]
    events: dict[int, EventSpec]
    config: dict
    start_ns: int = 0
    # the places whose drops are counted: site i counts in slot i + 1 of
    # the LOST array
    drop_sites: list[DropSite] = field(default_factory=list)
    # ScriptWarnings found while compiling (a wildcard leaving functions
    # out, a probe placed past an instruction): the session shows them
    warnings: list = field(default_factory=list)

    @property
    def user_maps(self) -> list[MapSpec]:
        return [m for m in self.maps.values() if m.name.startswith("@")]
