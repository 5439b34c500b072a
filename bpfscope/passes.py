"""The compile passes, in the order they run, in one list.

A script goes from source text to a :class:`CompiledScript` through the
passes of ``PASSES``; each takes the compile state and rewrites or checks
the program it holds. To add a pass, add it here at its place: nothing else
calls the passes. The order matters:

- parse, then imports: imported files bring macros and functions of their own;
- macros, then user functions: both are expanded in place, and what a macro
  expands to may call a user function;
- scopes before anything reads a variable: they give each ``$x`` its
  binding;
- unreachable statements are warned about after macros and functions
  are expanded;
- named parameters (``getopt``) before printf's arity check and analysis,
  which see the resolved defaults;
- printf's argument count before typing (a clearer error than a type one),
  its conversions against the types after it;
- codegen last, on the typed program.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable

from . import functions  # noqa: F401 - fills the function table (sema.registry) analysis reads
from .attach import providers
from .codegen.lower import compile_program
from .codegen.script import CompiledScript
from .errors import SemanticError, Source
from .lang import ast
from .lang.imports import resolve_imports
from .lang.macros import expand_macros
from .lang.parser import parse as parse_source
from .lang.userfuncs import inline_functions
from .runtime.printf import Conversion, FormatError, check_arg_count, parse_format
from .sema.analyzer import Analyzer, config_key, config_value
from .sema.controlflow import warn_unreachable
from .sema.named_params import resolve_getopt
from .sema.scopes import resolve_scopes


@dataclass
class CompileState:
    """What the passes share: the inputs of compile_script and what the
    passes have made so far."""
    source: Source
    name: str
    params: tuple = ()
    config: dict | None = None
    cpid: int | None = None
    options: providers.ProbeOptions | None = None
    named: dict = field(default_factory=dict)
    program: ast.Program | None = None
    analyzer: Analyzer | None = None
    script: CompiledScript | None = None


PRINTF_LIKE = {"printf", "errorf", "warnf"}
# bpfscope's bound: every argument is one record field, type-checked one by one
MAX_PRINTF_ARGS = 128
INT_CONVERSIONS = set("diuxXoc")


def _printf_calls(program: ast.Program):
    for node in ast.walk(program.probes):
        if isinstance(node, ast.Call) and node.name in PRINTF_LIKE and node.args \
                and isinstance(node.args[0], ast.String):
            yield node


def parse(st: CompileState):
    st.program = parse_source(st.source)


def imports(st: CompileState):
    st.program = resolve_imports(st.program, st.name)


def macros(st: CompileState):
    st.program = expand_macros(st.program)


def user_functions(st: CompileState):
    st.program = inline_functions(st.program)


def scopes(st: CompileState):
    for probe in st.program.probes:
        resolve_scopes(probe)


def unreachable(st: CompileState):
    warn_unreachable(st.program)


def named_params(st: CompileState):
    resolve_getopt(st.program, st.named)


def printf_arity(st: CompileState):
    """printf's format against its number of arguments, before typing."""
    for node in _printf_calls(st.program):
        if len(node.args) - 1 > MAX_PRINTF_ARGS:
            raise SemanticError(f"{node.name}: too many arguments ({len(node.args) - 1}), "
                                f"at most {MAX_PRINTF_ARGS}", node.span)
        try:
            check_arg_count(node.args[0].value, len(node.args) - 1, node.name)
        except FormatError as e:
            raise SemanticError(str(e), node.span) from None


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


def analysis(st: CompileState):
    options = st.options
    if not options.inlined and _probe_inline(st.program):
        options = dataclasses.replace(options, inlined=True)
    st.analyzer = Analyzer(st.program, providers.expander(options), st.params,
                           st.config, st.cpid).run()


def printf_types(st: CompileState):
    """printf's conversions against the types sema gave its arguments."""
    for node in _printf_calls(st.program):
        convs = [s for s in parse_format(node.args[0].value) if isinstance(s, Conversion)]
        for spec, arg in zip(convs, node.args[1:]):
            t = arg.type
            if (spec.conv in INT_CONVERSIONS or spec.conv == "gr") and t is not None and not t.is_int():
                raise SemanticError(f"{node.name}: %{spec.conv} specifier expects a value of type "
                                    f"integer ({t} supplied)", arg.span)


def codegen(st: CompileState):
    st.script = compile_program(st.analyzer)


PASSES: list[tuple[str, Callable[[CompileState], None]]] = [
    ("parse", parse),
    ("imports", imports),
    ("macros", macros),
    ("user functions", user_functions),
    ("scopes", scopes),
    ("unreachable", unreachable),
    ("named params", named_params),
    ("printf arity", printf_arity),
    ("analysis", analysis),
    ("printf types", printf_types),
    ("codegen", codegen),
]


def run_passes(st: CompileState) -> CompileState:
    for _name, fn in PASSES:
        fn(st)
    return st
