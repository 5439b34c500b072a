"""The Python API: compile a bpftrace script, run it, read its maps.

This module wires the layers together (the CLI is a thin shell over it)::

    from bpfscope import api
    script = api.compile_script('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')
    api.run(script, duration=1.0)

Every user-facing failure is a :class:`bpfscope.errors.BpfscopeError` whose
``format()`` gives bpftrace's error layout.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from .codegen.script import CompiledScript
from .errors import BpfscopeError, SemanticError, Source, WarningLog, collecting

if TYPE_CHECKING:
    from .runtime.session import Session

# The rest of the pipeline (parser, analysis, providers, the session and
# its readers) is imported where it is used: a run whose compile the cache
# holds needs none of the compiler, a --dry-run none of the runtime
# (issue 18: start-up time is mostly imports).


def compile_script(text: str, name: str = "stdin", params=(), config: dict | None = None,
                   cpid: int | None = None, pid: int | None = None,
                   uprobe_inlined: bool = False, cmd: str | None = None,
                   named: dict[str, str | None] | None = None,
                   debuginfo=None, cache: bool = False) -> CompiledScript:
    """Parse, check and compile ``text``; ``name`` is what errors call it;
    ``cpid`` is the pid of the -c child, the value of the ``cpid`` builtin;
    ``cmd`` the path of the program it runs (the target of uprobes that
    name none); ``pid`` (-p) limits user-space probes to one process;
    ``named`` holds the named parameters (``--name=value``; None for a bare
    ``--name``); ``debuginfo``, when given, the directories searched first
    for separate debug files (``--debuginfo``; for the whole process);
    ``cache``: look the compile up in, and store it into, the disk cache
    of compiled scripts (bpfscope.compilecache; the CLI's choice, unless
    BPFSCOPE_COMPILE_CACHE=0), for scripts of kernel probes that name no
    process."""
    k = None
    if cache and cpid is None and pid is None and cmd is None and not uprobe_inlined \
            and debuginfo is None and os.environ.get("BPFSCOPE_COMPILE_CACHE") != "0":
        from . import compilecache
        k = compilecache.key(text, name, params, config, named)
        cached = compilecache.load(k) if k is not None else None
        if isinstance(cached, CompiledScript):
            return cached
    from .attach import providers
    from .codegen.assemble import AssemblyError
    if debuginfo is not None:
        from .elf.debugfile import set_search_dirs
        set_search_dirs(debuginfo)
    source = Source(text, name)
    options = providers.ProbeOptions(
        pid=pid if pid is not None else cpid, inlined=uprobe_inlined,
        cmd=cmd if pid is None else None, unsafe=bool((config or {}).get("unsafe")))
    log = WarningLog()
    try:
        with collecting(log):
            from .passes import CompileState, run_passes
            st = run_passes(CompileState(source, name, params, config, cpid, options,
                                         named or {}))
    except BpfscopeError as e:
        if e.source is None:
            e.source = source
        # what was found before the error is still worth saying
        e.warnings = [dataclasses.replace(w, source=source) for w in log.items]
        raise
    except AssemblyError as e:
        raise SemanticError(f"program too large for BPF: {e}", source=source) from None
    except RecursionError:
        # last resort: the parser and expansion limits keep scripts shallow,
        # but no pass may turn deep input into a traceback
        raise SemanticError("program nests too deeply to compile", source=source) from None
    script = st.script
    script.warnings = [dataclasses.replace(w, source=source) for w in log.items]
    script.source = source
    script.ast = st.program
    if k is not None:
        compilecache.store(k, script)
    return script


def _parsed(text: str, name: str):
    """The AST of ``text``, parsed only (no tracefs, BTF or kernel); a
    syntax error is raised located in ``name``."""
    from .lang.parser import parse
    source = Source(text, name)
    try:
        return parse(source)
    except BpfscopeError as e:
        if e.source is None:
            e.source = source
        raise


def format_script(text: str, name: str = "stdin") -> str:
    """The script as canonical source (``--fmt``)."""
    from .lang.printer import to_source
    out = to_source(_parsed(text, name))
    return out if out.endswith("\n") else out + "\n"


def attach_points(text: str, name: str = "stdin") -> list:
    """The attach points of a script as written (``-l -e 'program'``)."""
    return [ap for probe in _parsed(text, name).probes for ap in probe.attach_points]


def check_syntax(text: str, name: str = "stdin") -> None:
    """Parse only: raises the located syntax error compile_script would."""
    _parsed(text, name)


def run(script: CompiledScript, sink=None, duration: float | None = None,
        verbose: bool = False, on_attached=None, should_stop=None,
        session: Session | None = None, mode: str | None = None,
        probe_filter: str | None = None) -> int:
    """Run a compiled script until exit(), a signal, ``duration`` seconds or
    ``should_stop()``; returns the exit code. ``session`` is a Session of
    ``script`` made by the caller (bpfscope.trace reads its maps); ``mode``
    'bench' runs the bench: probes (those ``probe_filter`` matches)."""
    from . import functions  # noqa: F401 - the records' handlers (a cached compile imported none)
    from .runtime.session import Session
    if not sink:
        from .output.text import TextOutput
        sink = TextOutput(sys.stdout, sys.stderr)
    session = session or Session(script, sink, verbose=verbose, mode=mode,
                                 probe_filter=probe_filter)
    try:
        return session.run(duration, on_attached=on_attached, should_stop=should_stop)
    except BpfscopeError as e:
        if e.source is None:
            e.source = getattr(script, "source", None)
        raise
