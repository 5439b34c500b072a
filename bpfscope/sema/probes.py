"""What the semantic pass needs to know about one expanded probe.

The attach layer expands each written attach point (wildcards, aliases) into
``ExpandedProbe`` values; sema and codegen use them without importing
attach/, which keeps the layers of DESIGN.md: the wiring in api.py hands an
expander function down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import Span


# A raw tracepoint passes at most 12 u64 arguments (bpf_trace_run12).
MAX_RAW_ARGS = 12

# Probes whose pointers point into the traced process's user memory.
USER_PROVIDERS = frozenset({"uprobe", "uretprobe", "usdt"})


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
    # What the context is: 'regs' (struct pt_regs: arg0..N, retval),
    # 'usdt' (pt_regs, arguments as usdt_args say), 'record' (a
    # tracepoint's raw record), 'none'.
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

    def arg(self, name: str) -> ArgField | None:
        for a in self.args or ():
            if a.name == name:
                return a
        return None


# An expander turns one ast.AttachPoint into the probes it names.
Expander = Callable[[object], list[ExpandedProbe]]
