"""The provider protocol: what a probe type declares and implements.

A probe type is one module of attach/ holding one :class:`Provider`
subclass; providers.py registers it. The registry reads the declarations
(names, aliases, program type, fallbacks) and calls the methods; nothing
else in bpfscope knows the probe type by name. What sema and codegen need
travels on each :class:`ExpandedProbe` the provider makes: its
``layout`` (a :class:`~bpfscope.sema.probes.ContextLayout`: what argN,
sargN, retval and pointers are), ``args`` (the fields of ``args``),
``func``, ``is_return``, ``load`` (extra BPF_PROG_LOAD attributes) and
``prog_type`` (set by the registry from the declaration when the provider
leaves it empty).

Detaching is closing the fds ``attach`` returned, in order (an fd object
with a ``release()`` method, such as a tracefs kprobe event, is released
once closed); the session does that for every probe type, so a provider
has no detach method of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sema.probes import ExpandedProbe


@dataclass(frozen=True)
class ProbeOptions:
    """Command-line choices that change what a probe means: ``pid`` (-p)
    limits user-space probes to one process; ``cmd`` is the path of the -c
    program (its child's pid is ``pid``, but the child runs the program
    only once the probes are attached); ``inlined`` (--uprobe-inlined)
    also puts uprobes on a function's inlined copies; ``unsafe`` (--unsafe)
    lets uprobes sit inside an instruction or on one the kernel mishandles."""
    pid: int | None = None
    inlined: bool = False
    cmd: str | None = None
    unsafe: bool = False


class Provider:
    """One probe type (or a pair that differ only in entry/return).

    Declarations (class attributes):

    - ``names``: the canonical provider names it serves, e.g.
      ``("kprobe", "kretprobe")``; the first word of an attach point,
      after aliases, picks the provider.
    - ``aliases``: short name -> canonical name (``{"k": "kprobe"}``),
      the only place an alias is defined.
    - ``prog_type``: the BPF program type its programs load as, the
      kernel's name in lower case (bpf.consts.ProgType: 'kprobe',
      'tracepoint', 'perf_event', 'raw_tracepoint', 'tracing', ...); a
      probe may name another in ``ExpandedProbe.prog_type``. The expected
      attach type, where one is needed, goes in ``ExpandedProbe.load``
      with the other load attributes.
    - ``fallback``: canonical name -> the canonical name of the probe
      type that runs instead on a kernel where :meth:`status` says this
      one does not work (``{"kprobe": "fentry"}``). The registry then
      calls this provider's :meth:`parse_spec`, :meth:`status` and
      :meth:`probes`, or the other one's :meth:`expand_instead`, instead
      of :meth:`expand`.
    - ``run_once``: canonical name -> 'begin', 'end', 'signal' or 'bench', for
      probe types whose programs attach nothing and that the session runs
      with BPF_PROG_TEST_RUN: 'begin' before any other probe is attached,
      'end' at exit (BEGIN and END), 'signal' each time the tracer gets
      the signal named by the probe's ``target`` ('signal', 'SIGUSR1')
      (self:signal:SIGUSR1), 'bench' many times over in bench mode (the
      target is ('bench', NAME)).
    - ``reattaches``: the canonical names whose probes follow their file
      when it is replaced while tracing (attach.reattach: uprobes; the
      probe's ``target`` has the file's ``path``, ``dev`` and ``ino``).
    - ``newest_first``: the kernel runs the programs on one hook of this
      type newest first (uprobe consumers); the session attaches such
      probes in reverse, so that they run in the script's order.
    - ``listed``: the canonical name ``-l`` asks when the probe type in a
      pattern is a wildcard (``-l '*:*sleep*'``, ``-l 'h*:*'``), or ''
      for types that need a target first (uprobes, USDT) or have nothing
      to list (BEGIN/END). bpftrace lists kernel probe types this way,
      without their return kinds.

    Methods to implement: :meth:`expand` and :meth:`attach` (BEGIN/END:
    attach nothing); the others have defaults that do nothing.
    """

    names: tuple[str, ...] = ()
    aliases: dict[str, str] = {}
    prog_type: str = ""
    fallback: dict[str, str] = {}
    run_once: dict[str, str] = {}
    reattaches: frozenset[str] = frozenset()
    newest_first: bool = False

    @property
    def listed(self) -> str:
        return self.names[0] if self.names else ""

    def expand(self, ap, provider: str, options: ProbeOptions) -> list[ExpandedProbe]:
        """The concrete probes attach point ``ap`` (an ast.AttachPoint:
        ``parts``, ``raw``, ``span``) names, wildcards resolved;
        ``provider`` is its canonical name. User errors raise
        SemanticError with ``ap.span``."""
        raise NotImplementedError

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        """Attach loaded program ``prog_fd`` to ``probe``: the fds that
        keep it attached (all or none: on failure close what was opened)."""
        raise NotImplementedError

    def group_key(self, probe: ExpandedProbe):
        """Probes with the same key (None: none) whose programs are the
        same code may share one loaded program attached once through
        :meth:`attach_group` (a uprobe wildcard's uprobe_multi link)."""
        return None

    def attach_group(self, probes: list[ExpandedProbe], prog_fd: int) -> list[int]:
        """Attach one program to every probe of ``probes`` (same
        :meth:`group_key`): the fds that keep them all attached."""
        raise NotImplementedError

    def sessions(self, probes: list[ExpandedProbe], programs: list) -> dict:
        """Pairs of ``probes`` one merged program serves (see
        providers.sessions); none unless the provider says so."""
        return {}

    def fire(self, probe: ExpandedProbe, fds: list[int], say) -> bool:
        """Probe types whose hook the session itself sets off once every
        probe is attached (iter: read the iterator to its end): do it,
        ``say(line)`` printing a line of output, and return True when the
        session then ends (as bpftrace does after an iterator); False (the
        default) for hooks the kernel fires."""
        return False

    def missed(self, probe: ExpandedProbe, fds: list[int]) -> int | None:
        """Hits the probe's kernel hook missed (kprobes' nmissed), read
        while attached; None where the probe type does not count them."""
        return None

    def list(self, pattern: str, verbose: bool, options: ProbeOptions) -> list[str] | None:
        """The ``-l PATTERN`` lines (``-lv``: with their arguments) for a
        pattern whose first word is one of ``names`` or ``aliases``; None
        where this probe type lists nothing for it (a pattern without ':'
        is then a tracepoint pattern, as in bpftrace)."""
        return None

    def status(self) -> str | None:
        """None when this probe type works on this kernel, else why not,
        as a phrase ("kprobes are not built into this kernel"). Probe
        types with a ``fallback`` are asked before expanding."""
        return None

    def info(self) -> list[tuple[str, str]]:
        """The (label, value) lines this probe type adds under "Probe
        types" in ``--info``, e.g. ``[("fentry", "yes")]``."""
        return []

    def expand_instead(self, ap, provider: str, spec, why: str) -> list[ExpandedProbe]:
        """Expand an attach point of probe type ``provider``, whose
        provider declared this one as its fallback and parsed ``ap`` into
        ``spec`` (its :meth:`parse_spec`), as probes of this type: the
        kernel cannot run ``provider`` because ``why``."""
        raise NotImplementedError

    def parse_spec(self, ap, provider: str):
        """Providers with a ``fallback``: ``ap`` parsed (syntax errors
        come before any question to the kernel), for :meth:`probes` or
        the fallback's :meth:`expand_instead`."""
        raise NotImplementedError

    def probes(self, ap, provider: str, spec) -> list[ExpandedProbe]:
        """Providers with a ``fallback``: the probes of a parsed spec on a
        kernel where this probe type works."""
        raise NotImplementedError


def why_not(status: str | None) -> str:
    """An --info value from a :meth:`Provider.status`."""
    return "yes" if status is None else f"no ({status})"
