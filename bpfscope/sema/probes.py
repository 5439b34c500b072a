"""What the semantic pass needs to know about one expanded probe.

The attach layer expands each written attach point (wildcards, aliases) into
``ExpandedProbe`` values; sema and codegen use them without importing
attach/, which keeps the layers of DESIGN.md: the wiring in api.py hands an
expander function down. What a probe's context gives the builtins (argN,
sargN, retval, reg()) travels as a :class:`ContextLayout` on each probe:
the provider declares it, sema and codegen read it, and neither looks at
the provider's name for it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from ..errors import Span


# A raw tracepoint passes at most 12 u64 arguments (bpf_trace_run12).
MAX_RAW_ARGS = 12

# Probes whose pointers point into the traced process's user memory (for
# probes built without a layout; see ContextLayout.user).
USER_PROVIDERS = frozenset({"uprobe", "uretprobe", "usdt"})


@dataclass(frozen=True)
class ContextLayout:
    """How a probe's context (the program's first argument) gives arg0..N,
    sargN, retval and reg(), declared by the provider.

    ``args`` says how argN is read: 'regs' from struct pt_regs, the
    argument registers of arch/x86_64.py (sargN, retval and reg() read
    pt_regs too); 'slots' from u64 slots at 8*N (raw tracepoints, fentry
    trampolines), as many as the probe's typed ``args`` (fexit's
    ``$retval`` aside) or ``max_args`` when it has none; 'usdt' the probe
    site's operands (``ExpandedProbe.usdt_args``), from pt_regs; '' none.
    The ``args`` builtin reads the probe's ArgFields at their offsets
    whatever the layout. ``user``: pointers the probe reads point into the
    traced process's memory (uprobe, usdt). ``name`` is the probe's
    ``context`` string ('regs', 'usdt', 'record', 'none'), kept for code
    that reads that. ``ctx_type``: the C type of the ``ctx`` builtin, the
    context itself ('struct bpf_iter__task *' for iter:task), '' where
    scripts cannot use ``ctx``. ``guard``: the offset of a pointer in the
    context; the program does nothing when it is NULL (an iterator's last
    call, which has no object), None for none. ``task_regs``: the probe
    runs in the kernel for some thread, whose user registers
    bpf_task_pt_regs gives (dw_ustack() unwinds from them).
    ``fires_in_user``: a probe without registers that runs from user mode,
    which ``usermode`` then knows when the script compiles (BEGIN and END,
    as bpftrace's uprobes on itself)."""
    name: str
    args: str = ""
    max_args: int = 0
    user: bool = False
    ctx_type: str = ""
    guard: int | None = None
    task_regs: bool = False
    fires_in_user: bool = False


# The layouts of bpfscope's probe types.
NO_CONTEXT = ContextLayout("none")                   # self, bench
RUN_ONCE = ContextLayout("none", fires_in_user=True)  # BEGIN, END
TIMER = ContextLayout("none", task_regs=True)        # interval
PT_REGS = ContextLayout("regs", args="regs", task_regs=True)  # kprobe, profile, software...
USER_REGS = ContextLayout("regs", args="regs", user=True)   # uprobe, uretprobe
USDT_OPERANDS = ContextLayout("usdt", args="usdt", user=True)
RECORD = ContextLayout("record", task_regs=True)     # a tracepoint's record: args only
BTF_SLOTS = ContextLayout("record", args="slots", task_regs=True)    # fentry, fexit
RAW_SLOTS = ContextLayout("record", args="slots", max_args=MAX_RAW_ARGS,
                          task_regs=True)            # rawtracepoint, tp_btf

# Probes built without a layout or program type (tests, embedding code):
# what the ``context`` string and the provider's name give. Providers
# declare both, so expanded probes never need these.
_LEGACY_LAYOUTS = {"none": NO_CONTEXT, "regs": PT_REGS, "usdt": USDT_OPERANDS,
                   "record": RECORD}
_LEGACY_NONE = {"BEGIN": RUN_ONCE, "END": RUN_ONCE, "interval": TIMER}
DEFAULT_PROG_TYPES = {
    "BEGIN": "raw_tracepoint", "END": "raw_tracepoint", "tracepoint": "tracepoint",
    "interval": "perf_event", "profile": "perf_event", "software": "perf_event",
    "hardware": "perf_event", "uprobe": "kprobe", "uretprobe": "kprobe",
    "kprobe": "kprobe", "kretprobe": "kprobe", "fentry": "tracing", "fexit": "tracing",
    "usdt": "kprobe"}


@dataclass(frozen=True)
class ArgField:
    """One field of a probe's ``args``: where it is in the context and what
    it holds. ``kind`` is 'int', 'bool', 'pointer', 'char_array', 'data_loc_string'
    or 'array'; ``user`` marks pointers into user memory."""
    name: str
    offset: int
    size: int
    signed: bool
    kind: str
    c_type: str
    array_len: int | None = None
    user: bool = False


@dataclass(frozen=True)
class RegArg:
    """Where a USDT argument is, in terms of the traced thread's registers
    (struct pt_regs offsets): 'reg' reads a register (``byte_off`` for %ah
    style parts), 'mem' reads ``size`` bytes at base + index*scale + disp,
    'const' is ``value``. The result is ``size`` bytes, sign-extended if
    ``signed``."""
    kind: str
    size: int
    signed: bool
    reg: int | None = None
    byte_off: int = 0
    base: int | None = None
    index: int | None = None
    scale: int = 1
    disp: int = 0
    value: int = 0


@dataclass
class ExpandedProbe:
    """One concrete probe. ``provider`` is canonical ('BEGIN', 'END',
    'tracepoint', 'interval', ...); ``name`` is its full name, the value of
    the ``probe`` builtin; ``target`` holds provider-specific parameters;
    ``args`` the fields of ``args`` (None when the probe has none)."""
    provider: str
    name: str
    target: tuple = ()
    args: list[ArgField] | None = None
    span: Span | None = field(default=None, compare=False)
    # The traced function of kprobe/uprobe-like probes: the ``func`` builtin.
    func: str = ""
    # The symbol as the file names it when ``func`` is its demangled C++
    # form ('' otherwise): ``func`` with cpp_demangle off.
    mangled: str = ""
    # The name of ``layout`` ('regs', 'usdt', 'record', 'none'); a probe
    # built with a name and no layout gets the layout of that name.
    context: str = "none"
    is_return: bool = False
    # Extra BPF_PROG_LOAD attributes the probe type needs, e.g.
    # {"expected_attach_type": ..., "attach_btf_id": ...} for fentry.
    load: dict = field(default_factory=dict, compare=False)
    # context "usdt": where arg0..argN of this probe site are
    usdt_args: list[RegArg] = field(default_factory=list, compare=False)
    # User-space probes: the probed file, where uaddr() looks symbols up.
    # ``site_vaddr`` is the ELF address of the probed instruction when the
    # instruction pointer is there as the program runs (uprobe, usdt; not
    # uretprobe), so ip - site_vaddr is the file's load bias; ``load_bias``
    # is that bias when known before running (0 for a fixed-address
    # executable, or read from a running -p process's mappings).
    binary: str = ""
    site_vaddr: int | None = None
    load_bias: int | None = None
    # The program type where the provider has more than one (rawtracepoint:
    # 'tracing' with BTF, 'raw_tracepoint' without); '' means the provider's.
    prog_type: str = ""
    # What the context gives the builtins (see ContextLayout).
    layout: ContextLayout | None = field(default=None, compare=False)
    # The probed function's debug information, read when a script first
    # asks (attach.dwarfargs.DebugArgs): ``args()`` -> the ArgFields of
    # ``args`` or None, ``type_named(name)`` -> the program's own type.
    debuginfo: object | None = field(default=None, compare=False)
    # Why this probe cannot share a script with any other probe (an
    # iterator's), '' where it can.
    alone: str = field(default="", compare=False)

    def __post_init__(self):
        if self.layout is None:
            layout = _LEGACY_LAYOUTS.get(self.context, NO_CONTEXT)
            if layout is NO_CONTEXT:
                layout = _LEGACY_NONE.get(self.provider, NO_CONTEXT)
            if self.provider in USER_PROVIDERS:
                layout = dataclasses.replace(layout, user=True)
            self.layout = layout
        else:
            self.context = self.layout.name

    def program_type(self) -> str:
        """The program type to load ('' when the probe type has none yet)."""
        return self.prog_type or DEFAULT_PROG_TYPES.get(self.provider, "")

    def arg(self, name: str) -> ArgField | None:
        for a in self.args or ():
            if a.name == name:
                return a
        return None


# An expander turns one ast.AttachPoint into the probes it names.
Expander = Callable[[object], list[ExpandedProbe]]
