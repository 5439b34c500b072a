"""Named program parameters: ``getopt("name"[, default[, description]])``.

On the command line they follow ``--`` as ``--name=value`` (or ``--name``
for a boolean); the default's type decides the parameter's: a string, an
integer, or a boolean (no default means a boolean that is false unless
given). Their values are known before anything is loaded, so each getopt()
call is replaced by a literal of its value, which sema and codegen then
treat like any other literal. A parameter the script never asks for, or a
value of the wrong type, is an error, reported before anything is loaded.
``-- --help`` lists the script's parameters, with their defaults and
descriptions, instead of running it (bpftrace 0.26).
"""

from __future__ import annotations

from ..errors import BpfscopeError, SemanticError
from ..lang import ast

BOOL_WORDS = {"true": True, "1": True, "false": False, "0": False}


def split_named(args: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """Positional parameters and ``--name[=value]`` ones (value None when
    there is no '='), as they follow ``--`` on the command line."""
    positional: list[str] = []
    named: dict[str, str | None] = {}
    for a in args:
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a[2:].partition("=")
            named[name] = value if eq else None
        else:
            positional.append(a)
    return positional, named


def _default(call: ast.Call):
    """The default value of a getopt() call, checked; its type is the
    parameter's."""
    if not call.args or len(call.args) > 3:
        raise SemanticError(f"getopt() requires 1 to 3 arguments ({len(call.args)} provided)",
                            call.span)
    if not isinstance(call.args[0], ast.String):
        raise SemanticError("First argument to 'getopt' must be a string literal.",
                            call.args[0].span)
    if len(call.args) == 3 and not isinstance(call.args[2], ast.String):
        raise SemanticError("Third argument to 'getopt' (its description) must be a "
                            "string literal.", call.args[2].span)
    if len(call.args) == 1:
        return False
    d = call.args[1]
    if isinstance(d, (ast.Bool, ast.String, ast.Integer)):
        return d.value
    if isinstance(d, ast.Unop) and d.op == "-" and isinstance(d.operand, ast.Integer):
        return -d.operand.value
    raise SemanticError("Second argument to 'getopt' must be a string literal, integer "
                        "literal, or a boolean literal.", d.span)


def _shown(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _value(name: str, given: str | None, default):
    """The command line's text for ``--name`` as the default's type."""
    if isinstance(default, bool):
        if given is None:
            return True
        if given.lower() not in BOOL_WORDS:
            raise BpfscopeError(f"Program option --{name} is a boolean: expected true or "
                                f"false, got '{given}'")
        return BOOL_WORDS[given.lower()]
    if given is None:
        raise BpfscopeError(f"Program option --{name} needs a value: --{name}=VALUE")
    if isinstance(default, int):
        try:
            return int(given, 0)
        except ValueError:
            raise BpfscopeError(f"Program option --{name} expects an integer, "
                                f"got '{given}'") from None
    return given


def _literal(span, v) -> ast.Expr:
    if isinstance(v, bool):
        return ast.Bool(span, v)
    if isinstance(v, int):
        return ast.Integer(span, v, str(v))
    return ast.String(span, v)


class ProgramHelp(BpfscopeError):
    """``-- --help``: ``message`` is the text listing the script's named
    parameters, for standard output; nothing runs."""


def _expected(defaults: dict[str, object]) -> str:
    if not defaults:
        return "no custom program options defined."
    return "expected program options: " + ", ".join("--" + n for n in defaults)


def help_text(defaults: dict[str, object], described: dict[str, str]) -> str:
    """bpftrace 0.26's hint line, then one line a parameter: how to give
    it, its description and its default."""
    lines = ["HINT: " + _expected(defaults)]
    rows = []
    for name, d in defaults.items():
        form = f"--{name}" if isinstance(d, bool) else \
            f"--{name}=" + ("NUM" if isinstance(d, int) else "STRING")
        rows.append((form, " ".join(x for x in (described.get(name, ""),
                                                 f"(default: {_shown(d)})") if x)))
    width = max((len(f) for f, _ in rows), default=0)
    lines += [f"    {f.ljust(width)}  {text}" for f, text in rows]
    return "\n".join(lines) + "\n"


class _Replacer:
    def __init__(self, named: dict[str, str | None]):
        self.named = named
        self.defaults: dict[str, object] = {}
        self.described: dict[str, str] = {}

    def expr(self, e: ast.Expr) -> ast.Expr:
        if isinstance(e, ast.Call) and e.name == "getopt":
            default = _default(e)
            name = e.args[0].value
            prev = self.defaults.setdefault(name, default)
            if prev != default or type(prev) is not type(default):
                raise SemanticError(f"Command line option '{name}' needs to have the same "
                                    "default value in all places it is used. Previous "
                                    f"default value: {_shown(prev)}", e.span)
            if len(e.args) == 3:
                self.described.setdefault(name, e.args[2].value)
            v = default if name not in self.named else _value(name, self.named[name], default)
            return _literal(e.span, v)
        ast.replace_exprs(e, self.expr)
        return e


def resolve_getopt(program: ast.Program, named: dict[str, str | None]):
    """Replace every getopt() of ``program`` by its value (in place)."""
    r = _Replacer(named)
    for node in program.probes + program.subprogs:
        ast.replace_exprs(node, r.expr)
    unknown = [n for n in named if n not in r.defaults and n != "help"]
    if unknown:
        # bpftrace 0.26's words, with its hint of what the script takes
        raise BpfscopeError("unexpected program command line options: "
                            + ", ".join("--" + n for n in unknown),
                            notes=[_expected(r.defaults)])
    if "help" in named and "help" not in r.defaults:
        raise ProgramHelp(help_text(r.defaults, r.described))
