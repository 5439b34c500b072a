"""The Python API: compile a bpftrace script, run it, read its maps.

This module wires the layers together (the CLI is a thin shell over it)::

    from bpfscope import api
    script = api.compile_script('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')
    api.run(script, duration=1.0)

Every user-facing failure is a :class:`bpfscope.errors.BpfscopeError` whose
``format()`` gives bpftrace's error layout.
"""

from __future__ import annotations

import os
import sys

from .attach import providers
from .codegen.lower import compile_program
from .codegen.assemble import AssemblyError
from .codegen.script import CompiledScript
from .errors import BpfscopeError, SemanticError, Source
from .lang import ast
from .lang.userfuncs import inline_functions
from .lang.imports import resolve_imports
from .lang.macros import expand_macros
from .lang.parser import parse
from .output.text import TextOutput
from .runtime.printf import Conversion, FormatError, check_arg_count, parse_format
from .runtime.session import Session
from .sema.analyzer import Analyzer, config_key, config_value
from .sema.named_params import resolve_getopt


PRINTF_LIKE = {"printf", "errorf", "warnf"}
# bpfscope's bound: every argument is one record field, type-checked one by one
MAX_PRINTF_ARGS = 128


def _printf_calls(program: ast.Program):
    for node in ast.walk(program.probes):
        if isinstance(node, ast.Call) and node.name in PRINTF_LIKE and node.args \
                and isinstance(node.args[0], ast.String):
            yield node


def _check_formats(program: ast.Program):
    """printf's format against its number of arguments, before typing."""
    for node in _printf_calls(program):
        if len(node.args) - 1 > MAX_PRINTF_ARGS:
            raise SemanticError(f"{node.name}: too many arguments ({len(node.args) - 1}), "
                                f"at most {MAX_PRINTF_ARGS}", node.span)
        try:
            check_arg_count(node.args[0].value, len(node.args) - 1, node.name)
        except FormatError as e:
            raise SemanticError(str(e), node.span) from None


INT_CONVERSIONS = set("diuxXoc")


def _check_format_types(program: ast.Program):
    """printf's conversions against the types sema gave its arguments."""
    for node in _printf_calls(program):
        convs = [s for s in parse_format(node.args[0].value) if isinstance(s, Conversion)]
        for spec, arg in zip(convs, node.args[1:]):
            t = arg.type
            if spec.conv in INT_CONVERSIONS and t is not None and not t.is_int():
                raise SemanticError(f"{node.name}: %{spec.conv} specifier expects a value of type "
                                    f"integer ({t} supplied)", arg.span)


def _probe_inline(program: ast.Program) -> bool:
    """bpftrace's probe_inline config (what --uprobe-inlined asks for), from
    BPFTRACE_PROBE_INLINE or else the config block; sema checks its value.
    Probes are expanded before sema reads the config, hence this look."""
    env = os.environ.get("BPFTRACE_PROBE_INLINE")
    if env is not None:
        return config_value(env) == 1
    for name, val in program.config.items if program.config else ():
        if config_key(name) == "probe_inline":
            if isinstance(val, (ast.String, ast.Identifier)):
                return config_value(val.value if isinstance(val, ast.String) else val.name) == 1
            return isinstance(val, (ast.Integer, ast.Bool)) and int(val.value) == 1
    return False


def compile_script(text: str, name: str = "stdin", params=(), config: dict | None = None,
                   cpid: int | None = None, pid: int | None = None,
                   uprobe_inlined: bool = False, cmd: str | None = None,
                   named: dict[str, str | None] | None = None) -> CompiledScript:
    """Parse, check and compile ``text``; ``name`` is what errors call it;
    ``cpid`` is the pid of the -c child, the value of the ``cpid`` builtin;
    ``cmd`` the path of the program it runs (the target of uprobes that
    name none); ``pid`` (-p) limits user-space probes to one process;
    ``named`` holds the named parameters (``--name=value``; None for a bare
    ``--name``)."""
    source = Source(text, name)
    try:
        program = resolve_imports(parse(source), name)
        program = inline_functions(expand_macros(program))
        resolve_getopt(program, named or {})
        _check_formats(program)
        expand = providers.expander(providers.ProbeOptions(
            pid=pid if pid is not None else cpid,
            inlined=uprobe_inlined or _probe_inline(program),
            cmd=cmd if pid is None else None,
            unsafe=bool((config or {}).get("unsafe"))))
        analyzer = Analyzer(program, expand, params, config, cpid).run()
        _check_format_types(program)
        script = compile_program(analyzer)
    except BpfscopeError as e:
        if e.source is None:
            e.source = source
        raise
    except AssemblyError as e:
        raise SemanticError(f"program too large for BPF: {e}", source=source) from None
    except RecursionError:
        # last resort: the parser and expansion limits keep scripts shallow,
        # but no pass may turn deep input into a traceback
        raise SemanticError("program nests too deeply to compile", source=source) from None
    script.source = source
    script.ast = program
    return script


def check_syntax(text: str, name: str = "stdin") -> None:
    """Parse only (no tracefs, BTF or kernel): raises the located syntax
    error compile_script would."""
    source = Source(text, name)
    try:
        parse(source)
    except BpfscopeError as e:
        if e.source is None:
            e.source = source
        raise


def run(script: CompiledScript, sink=None, duration: float | None = None,
        verbose: bool = False, on_attached=None, should_stop=None) -> int:
    """Run a compiled script until exit(), a signal, ``duration`` seconds or
    ``should_stop()``; returns the exit code."""
    sink = sink or TextOutput(sys.stdout, sys.stderr)
    session = Session(script, sink, verbose=verbose)
    try:
        return session.run(duration, on_attached=on_attached, should_stop=should_stop)
    except BpfscopeError as e:
        if e.source is None:
            e.source = getattr(script, "source", None)
        raise
