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


@dataclass(frozen=True)
class ArgField:
    """One field of a probe's ``args``: where it is in the context and what
    it holds. ``kind`` is 'int', 'pointer', 'char_array', 'data_loc_string'
    or 'array'; ``user`` marks pointers into user memory."""
    name: str
    offset: int
    size: int
    signed: bool
    kind: str
    c_type: str
    array_len: int | None = None
    user: bool = False


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
    # What the context is: 'regs' (struct pt_regs: arg0..N, retval),
    # 'record' (a tracepoint's raw record), 'none'.
    context: str = "none"
    is_return: bool = False
    # Extra BPF_PROG_LOAD attributes the probe type needs, e.g.
    # {"expected_attach_type": ..., "attach_btf_id": ...} for fentry.
    load: dict = field(default_factory=dict, compare=False)

    def arg(self, name: str) -> ArgField | None:
        for a in self.args or ():
            if a.name == name:
                return a
        return None


# An expander turns one ast.AttachPoint into the probes it names.
Expander = Callable[[object], list[ExpandedProbe]]
