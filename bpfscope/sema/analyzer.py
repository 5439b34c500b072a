"""Semantic analysis: names, types and checks of a parsed program (maps
are typed by the MapTyping part, sema.maptyping).

Map types are global and may be fixed by a probe that comes later in the
script than a read of the map, so the analyser runs the probes repeatedly
until map types stop changing, then once more in *final* mode, in which
anything still unknown is an error. Scratch variables are per probe.

Each expanded probe (one per concrete attach point) is analysed on its own,
because ``args`` differs from tracepoint to tracepoint; the code generator
calls :meth:`Analyzer.analyze_probe` right before lowering one, so the types
written on the AST are those of the probe being lowered.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import (InternalError, MissingProbe, MissingRawTracepoint, MissingTracepoint,
                       SemanticError, Span, warn)
from ..lang import ast
from ..lang.cdecl import parse_definitions
from ..lang.lexer import split_attach_point
from . import registry
from . import types as T
from .config_values import STR_CONFIG, check_config_value
from .constexpr import ConstValues
from .maptyping import MapInfo, MapTyping
from .probes import ExpandedProbe, Expander
from .scopes import resolve_scopes
from .typelib import TypeLibrary

# bpfscope's own bound: a literal is copied into the program instruction by instruction
MAX_STRING_LITERAL = 65536
# bpfscope's bound on the product of nested unroll() counts (one unroll allows 100)
MAX_UNROLLED = 1000

CONFIG_DEFAULTS = {"max_strlen": 1024, "max_map_keys": 4096, "str_trunc_trailer": "..",
                   "print_maps_on_exit": 1, "perf_rb_pages": 0,  # 0: by memory
                   "max_probes": 1024}


def config_key(name: str) -> str:
    """BPFTRACE_MAX_MAP_KEYS, MAX_MAP_KEYS and max_map_keys are one key."""
    name = name.lower()
    return name[len("bpftrace_"):] if name.startswith("bpftrace_") else name


def param_int(text: str) -> int | None:
    """A positional parameter's value as an integer, None when it is not
    one: decimal, 0x hex, 0b binary, 0o or C's leading-0 octal (0775)."""
    if re.fullmatch(r"[+-]?0[0-7]+", text):
        return int(text, 8)
    try:
        return int(text, 0)
    except ValueError:
        return None


def config_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return int(low == "true")
    try:
        return int(text, 0)
    except ValueError:
        return text


# the environment's older name of max_strlen, still read (with a warning)
# as bpftrace does: many scripts and wrappers set it
OLD_STRLEN_ENV = "BPFTRACE_STRLEN"


def config_from_env(env) -> dict:
    # only the BPFTRACE_ names' values are read (decoding them all is slow)
    out = {config_key(k): config_value(env[k]) for k in env
           if k.startswith("BPFTRACE_") and config_key(k) in KNOWN_CONFIG}
    if OLD_STRLEN_ENV in env:
        out["max_strlen"] = config_value(env[OLD_STRLEN_ENV])
    return out


KNOWN_CONFIG = {"max_map_keys", "max_strlen", "print_maps_on_exit", "perf_rb_pages",
                "stack_mode", "cpp_demangle", "lazy_symbolication", "missing_probes",
                "max_probes", "max_bpf_progs", "max_cat_bytes", "log_size", "license",
                "on_stack_limit", "str_trunc_trailer", "cache_user_symbols",
                "show_debug_info", "unstable_map_decl", "unstable_tseries", "unstable_addr",
                "unstable_dw_ustack",
                # bpfscope's own: ustack unwound as dw_ustack() (frame_pointer, dwarf)
                "ustack_unwind",
                # what --uprobe-inlined asks for (read by api before sema runs)
                "probe_inline",
                # accepted, no effect here: BTF gives whole types at once (no
                # resolution rounds), symbols come from bpfscope's own ELF and
                # DWARF readers (no blazesym, one source), imports need no flag
                "max_type_res_iterations", "symbol_source", "use_blazesym", "unstable_import"}


# bpftrace's names that only its environment sets (read elsewhere than the
# config); a config block naming one is told so.
ENV_ONLY_CONFIG = {"btf", "debug_output", "kernel_build", "kernel_source", "max_ast_nodes",
                   "verify_llvm_ir", "vmlinux"}


def sizeof(t: T.Type, alignment=None) -> int:
    """bpftrace's sizeof: integers by their width, not their 8-byte slot;
    a tuple as the C struct of its elements (padded to each one's
    alignment, which ``alignment(type)`` gives; none: packed)."""
    if isinstance(t, T.IntType):
        return max(1, t.bits // 8)
    if isinstance(t, T.TupleType):
        off, most = 0, 1
        for e in t.elems:
            a = _align_of(e, alignment)
            off = -(-off // a) * a + sizeof(e, alignment)
            most = max(most, a)
        return -(-off // most) * most
    return T.c_size(t)


def _align_of(t: T.Type, alignment) -> int:
    if alignment is None:
        return 1
    if isinstance(t, T.TupleType):
        return max((_align_of(e, alignment) for e in t.elems), default=1)
    if isinstance(t, T.IntType):
        return max(1, t.bits // 8)
    return max(1, alignment(t))


@dataclass
class ProbeScope:
    """Variable types of one expanded probe."""
    vars: dict[str, T.Type] = field(default_factory=dict)


@dataclass
class TypedProbe:
    """What sema hands codegen for one expanded probe: the probe's tree,
    typed for this expansion (the expansions of one probe share the tree,
    so its annotations hold until the next expansion is typed), the
    expansion itself, and the types of its scratch variables by key."""
    probe: ast.Probe
    exp: ExpandedProbe
    vars: dict[str, T.Type]


class Analyzer(ConstValues, MapTyping):
    def __init__(self, program: ast.Program, expander: Expander,
                 params: list[str] | tuple = (), config: dict | None = None,
                 cpid: int | None = None):
        self.program = program
        self.cpid = cpid
        self.expander = expander
        self.params = list(params)
        # bpftrace's precedence: defaults, the script's config block, the
        # BPFTRACE_* environment, then what the caller forces (CLI flags)
        self.config = dict(CONFIG_DEFAULTS)
        self.config.update(self._config_block())
        if OLD_STRLEN_ENV in os.environ:
            warn(f"{OLD_STRLEN_ENV} is deprecated. Use BPFTRACE_MAX_STRLEN instead.")
        for key, value in config_from_env(os.environ).items():
            self.config[key] = check_config_value(key, "BPFTRACE_" + key.upper(), value)
        if config:
            self.config.update(config)
        self.maps: dict[str, MapInfo] = {}
        self.expanded: list[tuple[ast.Probe, list[ExpandedProbe]]] = []
        self.final = False
        self._changed = False
        self._scope = ProbeScope()
        self._probe: ExpandedProbe | None = None
        self._var_memo: dict[tuple, dict] = {}  # variable types of each probe's last pass
        self._widest: dict = {}
        # the user functions being inlined around the current statement,
        # with the type each returns
        self._fns: list[tuple[ast.InlineCall, T.Type]] = []
        # the ``args`` of the ``args.NAME`` being typed (a field, not args
        # as a value): its builtin's check reads and clears it
        self.args_field: ast.Builtin | None = None
        self.types = TypeLibrary()
        for cdef in program.c_definitions:
            self.types.define(parse_definitions(cdef.text, cdef.span), cdef.span)

    # ------------------------------------------------------------ driver

    def _config_block(self) -> dict:
        out = {}
        blk = self.program.config
        if blk is None:
            return out
        spans = blk.spans or [blk.span] * len(blk.items)
        for (name, val), span in zip(blk.items, spans):
            key = config_key(name)
            # As bpftrace: only its config variables; `unsafe` is none of
            # them, so a script cannot allow system()/signal() itself
            # (only --unsafe on the command line does).
            # bpftrace 0.26's words, underlining the key alone
            key_span = dataclasses.replace(span, end_line=span.line,
                                           end_col=span.col + len(name))
            if key in ENV_ONLY_CONFIG:
                self.err(f"{name} can only be set as an environment variable", key_span)
            elif key not in KNOWN_CONFIG:
                self.err(f"Unrecognized config variable: {name}", key_span)
            if key in STR_CONFIG and isinstance(val, (ast.Integer, ast.Bool)):
                self.err(f"Invalid type for {name}. Type: integer. Expected Type: string", span)
            if isinstance(val, (ast.Integer, ast.Bool)):
                value = int(val.value)
            elif key in STR_CONFIG and isinstance(val, ast.String):
                value = val.value  # as written: "12" stays text
            elif isinstance(val, (ast.String, ast.Identifier)):
                value = config_value(val.value if isinstance(val, ast.String) else val.name)
            elif isinstance(val, ast.Unop) and val.op == "-" and isinstance(val.operand, ast.Integer):
                value = -val.operand.value
            else:
                self.err(f"Assignment for {name} must be literal.", span)
            out[key] = check_config_value(key, name, value, span)
        return out

    @property
    def cpp_demangle(self) -> bool:
        """Whether C++ names print demangled (func, usym, ustack)."""
        return bool(self.config.get("cpp_demangle", 1))

    @property
    def max_strlen(self) -> int:
        return int(self.config["max_strlen"])

    @property
    def probe(self) -> ExpandedProbe | None:
        """The expanded probe being analysed (what a function's check may
        depend on: its provider, its context)."""
        return self._probe


    _PARAM_IN_ATTACH = re.compile(r"\$([0-9]+)")

    def positional_in_attach_point(self, ap: ast.AttachPoint) -> None:
        """`interval:s:$1`, `BEG$1`, a whole probe from `$1`: bpftrace 0.26
        puts the parameters' text in the attach point (a missing one is
        empty, as in a string context) before the provider reads it."""
        if "$" not in ap.raw:
            return
        def text(m: re.Match) -> str:
            i = int(m.group(1))
            return self.params[i - 1] if 0 < i <= len(self.params) else ""
        ap.raw = self._PARAM_IN_ATTACH.sub(text, ap.raw)
        ap.parts = split_attach_point(ap.raw)

    def missing_probes(self, exps: list[ExpandedProbe], missing) -> None:
        """Attach points naming nothing that exists, as missing_probes
        says: 'error' (the default) stops, but for a wildcard matching
        nothing in a probe whose other attach points match (bpftrace 0.26
        drops it); 'warn' says so and goes on; 'ignore' goes on."""
        policy = self.config.get("missing_probes", "error")
        for ap, e in missing:
            if policy == "ignore":
                continue
            if policy == "warn":
                warn(f"{e.message.rstrip('.')}, skipping probe.", e.span or ap.span)
                continue
            if exps and "*" in ap.raw:
                continue
            if isinstance(e, MissingRawTracepoint):
                warn(e.message, e.span or ap.span)
                continue
            if isinstance(e, MissingTracepoint):
                warn(e.message, e.span or ap.span)
                if exps:
                    continue
                raise SemanticError(f"Unable to attach probe: {e.probe_name}. If this is "
                                    "expected, set the 'missing_probes' config variable to "
                                    "'warn'.")
            raise e

    def check_probe_limit(self) -> None:
        """max_probes (BPFTRACE_MAX_PROBES) bounds the probes of the whole
        script, of every provider: a wildcard over a big binary's symbol
        table would otherwise attach tens of thousands of uprobes. The
        error points at the attach point that crossed the limit."""
        limit = self.config.get("max_probes", CONFIG_DEFAULTS["max_probes"])
        total = sum(len(exps) for _, exps in self.expanded)
        if total <= limit:
            return
        crossing = [e for _, exps in self.expanded for e in exps][limit]
        raise SemanticError(f"Can't attach to {total} probes because it exceeds the current limit "
                            f"of {limit} probes.", crossing.span or self.expanded[-1][0].span)

    def check_alone(self) -> None:
        """A probe whose provider says it runs alone (an iterator) with any
        other probe in the script: an error at the first such probe."""
        every = [e for _, exps in self.expanded for e in exps]
        for e in every:
            if e.alone and len(every) > 1:
                raise SemanticError(e.alone, e.span)

    def run(self) -> "Analyzer":
        self.declare_maps()
        for probe in self.program.probes:
            exps: list[ExpandedProbe] = []
            missing: list[tuple[ast.AttachPoint, MissingProbe]] = []
            for ap in probe.attach_points:
                self.positional_in_attach_point(ap)
                try:
                    exps.extend(self.expander(ap))
                except MissingProbe as e:
                    missing.append((ap, e))
            self.missing_probes(exps, missing)
            if not self.cpp_demangle:
                for exp in exps:
                    exp.func = exp.mangled or exp.func
            self.expanded.append((probe, exps))
        if self.config.get("ustack_unwind") == "dwarf":
            for probe, exps in self.expanded:
                if exps and all(x.layout.user or x.layout.task_regs
                                for x in exps):
                    _ustack_by_dwarf(probe)
        self.check_probe_limit()
        self.check_alone()
        # Map types only widen (unify), so this converges; a map read
        # before the statement that types it needs one more pass per link
        # of such a chain. Not converging is a bug in the analyser, never
        # a reason to go on with half-typed maps.
        passes = 0
        while True:
            self._changed = False
            for probe, exps in self.expanded:
                for exp in exps:
                    self.analyze_probe(probe, exp, final=False)
            passes += 1
            if not self._changed:
                break
            # each map and variable can widen only a few times
            names = len(self.maps) + sum(len(v) for v in self._var_memo.values())
            if passes > 8 + 8 * names:
                raise InternalError(f"type analysis did not converge after {passes} passes")
        for probe, exps in self.expanded:
            for exp in exps:
                self.analyze_probe(probe, exp, final=True)
        used = {"@" + n.name for n in ast.walk(self.program.probes + self.program.subprogs)
                if isinstance(n, ast.Map)}
        for name, m in list(self.maps.items()):
            if m.value is None and m.decl_kind and m.name not in used:
                # declared (`let @a = hash(N);`) and never used: bpftrace
                # warns and makes no map of it
                warn(f"Unused map: {m.name}", m.span)
                del self.maps[name]
            elif m.value is None:
                raise SemanticError(f"Undefined map: {m.name}", m.span)
        self.check_map_kinds()
        return self

    def typed_probes(self) -> Iterator[TypedProbe]:
        """Each expanded probe, typed for itself, in order; codegen lowers
        one before asking for the next (see TypedProbe)."""
        for probe, exps in self.expanded:
            for exp in exps:
                scope = self.analyze_probe(probe, exp, final=True)
                yield TypedProbe(probe, exp, dict(scope.vars))

    def analyze_probe(self, probe: ast.Probe, exp: ExpandedProbe,
                      final: bool = True) -> ProbeScope:
        self.final = final
        self._scope = ProbeScope()
        self._probe = exp
        self.types.program = exp.debuginfo  # the traced program's own types
        # A variable's type may widen further down the probe ($s = "ab";
        # ... $s = "longer"): a read before that, in a loop body that runs
        # again, must already see the widest type, which the previous pass
        # over this probe found.
        memo = (id(probe), exp.name)
        self._widest = self._var_memo.get(memo, {})
        resolve_scopes(probe)
        if probe.predicate is not None:
            t = self.expr(probe.predicate)
            if t is not None and not t.is_int():
                self.err(f"Invalid type for predicate: {T.type_name(t)}", probe.predicate.span)
        self.block(probe.body)
        self._var_memo[memo] = dict(self._scope.vars)
        return self._scope

    def err(self, msg: str, span: Span | None):
        raise SemanticError(msg, span)

    # ------------------------------------------------------------ statements

    def block(self, stmts: list[ast.Stmt]):
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: ast.Stmt):
        if isinstance(s, ast.ExprStmt):
            e = s.expr
            self.not_aggregation(e)
            self.expr(e, statement=True)
        elif isinstance(s, ast.AssignMap):
            self.assign_map(s)
        elif isinstance(s, (ast.AssignVar, ast.VarDecl)):
            self.assign_var(s)
        elif isinstance(s, ast.If):
            self.cond(s.cond)
            self.block(s.then)
            if s.orelse:
                self.block(s.orelse)
        elif isinstance(s, ast.Block):
            self.block(s.stmts)
        elif isinstance(s, ast.Unroll):
            n = self.const_int(s.count, "unroll")
            if not 1 <= n <= 100:
                # bpftrace 0.26's words, at `unroll (N)`
                self.err("unroll maximum value is 100" if n > 100 else
                         "unroll minimum value is 1", s.head or s.count.span)
            outer = getattr(self, "_unrolled", 1)
            if outer * n > MAX_UNROLLED:
                self.err(f"Nested unroll() would copy this body {outer * n} times, "
                         f"at most {MAX_UNROLLED}", s.span)
            self._unrolled = outer * n
            try:
                self.block(s.body)
            finally:
                self._unrolled = outer
        elif isinstance(s, ast.While):
            self.cond(s.cond)
            self.block(s.body)
        elif isinstance(s, ast.ForRange):
            s.kernel_loop = self.kernel_function("bpf_loop") is not None
            for bound in (s.start, s.end):
                t = self.expr(bound)
                if t is not None and not t.is_int():
                    self.err(f"Loop range requires an integer, got '{T.type_name(t)}'", bound.span)
            old = self._scope.vars.get(s.var.key)
            if old is not None and not old.is_int():
                self.err(f"Loop variable ${s.var.name} already holds a "
                         f"'{T.type_name(old)}'", s.var.span)
            self._scope.vars[s.var.key] = T.INT64
            s.var.type = T.INT64
            self.block(s.body)
        elif isinstance(s, ast.ForMap):
            self.for_map(s)
        elif isinstance(s, ast.Jump):
            if s.kind == "return" and self._fns:
                self.fn_return(s)
            elif s.value is not None:
                self.expr(s.value)
        else:
            self.err(f"{type(s).__name__.lower()} statements are not supported yet", s.span)

    def cond(self, e: ast.Expr):
        t = self.expr(e)
        if t is not None and not t.is_int():
            self.err(f"Invalid condition type: {T.type_name(t)}", e.span)

    def assign_var(self, s):
        name = s.var.key
        if isinstance(s, ast.VarDecl):
            declared = self.typespec(s.type_spec) if s.type_spec else None
            if s.value is None:
                if declared is None:
                    self._scope.vars.setdefault(name, None)
                else:
                    self._scope.vars[name] = declared
                return
            vt = self.expr(s.value)
            if declared is not None:
                vt = declared
            op = "="
        else:
            self.not_aggregation(s.value)
            vt = self.expr(s.value)
            op = s.op
        if op != "=":
            old = self.var_read(s.var)
            if vt is not None and not vt.is_int() or old is not None and not old.is_int():
                self.err(f"Invalid type for '{op}'", s.span)
            vt = T.IntType(64, (old or T.INT64).signed)
        if isinstance(vt, T.VoidType):
            self.err("Value of type 'none' cannot be assigned to a variable", s.value.span)
        old = self._scope.vars.get(name)
        if vt is None:
            return
        if old is None:
            self._scope.vars[name] = vt
        else:
            u = T.unify(old, vt)
            if u is None:
                self.err(f"Type mismatch for ${s.var.name}: trying to assign value of type "
                         f"'{T.type_name(vt)}' when variable already contains a value of type "
                         f"'{T.type_name(old)}'", s.span)
            self._scope.vars[name] = u
        s.var.type = self._scope.vars[name]

    # ------------------------------------------------------------ expressions

    def expr(self, e: ast.Expr, statement: bool = False) -> T.Type | None:
        t = self._expr(e, statement)
        e.type = t
        return t

    def _expr(self, e: ast.Expr, statement: bool) -> T.Type | None:
        if isinstance(e, ast.Integer):
            return T.INT64 if e.value < (1 << 63) else T.UINT64
        if isinstance(e, ast.Bool):
            return T.BOOL
        if isinstance(e, ast.String):
            if len(e.value) > MAX_STRING_LITERAL:
                self.err(f"String literal too long: {len(e.value)} characters, at most "
                         f"{MAX_STRING_LITERAL}", e.span)
            try:
                return T.StringType(len(ast.string_bytes(e.value)) + 1)
            except UnicodeEncodeError:
                # a surrogate that stands for no raw byte (U+D800..U+DC7F)
                self.err("invalid UTF-8 in string literal", e.span)
        if isinstance(e, ast.PositionalParam):
            return self.positional(e)
        if isinstance(e, ast.PositionalCount):
            return T.INT64
        if isinstance(e, ast.Builtin):
            return self.builtin(e)
        if isinstance(e, ast.Variable):
            return self.var_read(e)
        if isinstance(e, ast.Map):
            return self.map_value_read(e)
        if isinstance(e, ast.Binop):
            return self.binop(e)
        if isinstance(e, ast.Unop):
            return self.unop(e)
        if isinstance(e, ast.Ternary):
            self.cond(e.cond)
            a, b = self.expr(e.then), self.expr(e.orelse)
            if a is None or b is None:
                return a or b
            u = T.unify(a, b)
            if u is None:
                self.err(f"Ternary operator branches have different types: "
                         f"'{T.type_name(a)}' and '{T.type_name(b)}'", e.span)
            return u
        if isinstance(e, ast.FieldAccess):
            return self.field(e)
        if isinstance(e, ast.Index):
            return self.index(e)
        if isinstance(e, ast.Cast):
            return self.cast(e)
        if isinstance(e, ast.Tuple):
            elems = [self.expr(x) for x in e.elems]
            if any(x is None for x in elems):
                return None
            for x, t in zip(e.elems, elems):
                if isinstance(t, (T.VoidType, T.AggType, T.ArgsType)):
                    self.err(f"Invalid tuple element type: {T.type_name(t)}", x.span)
            return T.TupleType(tuple(elems))
        if isinstance(e, ast.Record):
            names = [n for n, _ in e.fields]
            if len(set(names)) != len(names):
                self.err("Record fields must have different names", e.span)
            elems = [self.expr(x) for _, x in e.fields]
            if any(x is None for x in elems):
                return None
            for (_, x), t in zip(e.fields, elems):
                if isinstance(t, (T.VoidType, T.AggType, T.ArgsType)):
                    self.err(f"Invalid record field type: {T.type_name(t)}", x.span)
            return T.TupleType(tuple(elems), tuple(names))
        if isinstance(e, ast.Call):
            return self.call(e, statement)
        if isinstance(e, ast.Sizeof):
            named = self.types.named(e.expr.name) if isinstance(e.expr, ast.Identifier) \
                and self.types.enumerator(e.expr.name) is None else None
            if named is not None:
                # sizeof(uint32_t): a typedef name the parser took for a value
                t = named
            elif e.expr is not None:
                t = self.expr(e.expr)
            else:
                t = self.typespec(e.type_arg)
            e.size = 0 if t is None else sizeof(t, self.types.alignment)
            return T.UINT64
        if isinstance(e, ast.BlockExpr):
            self.block(e.stmts)
            return self.expr(e.value, statement)
        if isinstance(e, ast.InlineCall):
            return self.inline_call(e)
        if isinstance(e, ast.Offsetof):
            return self.offsetof(e)
        if isinstance(e, ast.Identifier):
            value = self.types.enumerator(e.name)
            if value is None:
                self.err(f"Unknown identifier: '{e.name}'", e.span)
            if not -(1 << 63) <= value < (1 << 64):
                self.err(f"Enum value of {e.name} does not fit in 64 bits: {value}", e.span)
            e.value = value
            return self.types.enumerator_type(e.name)
        self.err(f"{type(e).__name__} expressions are not supported yet", e.span)

    # ------------------------------------------------------------ user functions

    @staticmethod
    def fits(got: T.Type, want: T.Type) -> bool:
        """Can a value of type ``got`` be passed or returned as ``want``?
        Integers convert to any integer type, strings to any string."""
        if isinstance(got, (T.AggType, T.VoidType)):
            return False
        if want.is_int():
            return got.is_int()
        if isinstance(want, T.StringType):
            return got.is_string()
        return T.unify(got, want) == want

    def inline_call(self, e: ast.InlineCall) -> T.Type:
        for (var, ts), arg in zip(e.params, e.args):
            want = self.typespec(ts)
            got = self.expr(arg)
            if got is not None and not self.fits(got, want):
                self.err(f"Function {e.name}: ${var.name} is a '{T.type_name(want)}', "
                         f"not '{T.type_name(got)}'", arg.span)
            self._scope.vars[var.key] = var.type = want
        rt = e.return_type
        ret = T.VOID if rt is None or (rt.name == "void" and not rt.pointer_depth) \
            else self.typespec(rt)
        self._fns.append((e, ret))
        try:
            self.block(e.body)
        finally:
            self._fns.pop()
        return ret

    def fn_return(self, s: ast.Jump):
        call, ret = self._fns[-1]
        if s.value is None:
            if not isinstance(ret, T.VoidType):
                self.err(f"Function {call.name} must return a '{T.type_name(ret)}'", s.span)
            return
        t = self.expr(s.value)
        if isinstance(ret, T.VoidType):
            self.err(f"Function {call.name} returns nothing: 'return' can not have a value",
                     s.value.span)
        if t is not None and not self.fits(t, ret):
            self.err(f"Function {call.name} returns '{T.type_name(ret)}', not "
                     f"'{T.type_name(t)}'", s.value.span)

    def positional(self, e: ast.PositionalParam) -> T.Type:
        if e.index < 1 or e.index > len(self.params):
            # bpftrace treats a missing positional parameter as 0 / "".
            return T.INT64
        v = self.params[e.index - 1]
        if param_int(v) is not None:
            return T.INT64
        return T.StringType(len(ast.string_bytes(v)) + 1)

    def builtin(self, e: ast.Builtin) -> T.Type:
        """A builtin variable: its record's check (bpfscope.functions)."""
        v = registry.builtin(e.name)
        if v is None:
            self.err(f"Unknown builtin variable: '{e.name}'", e.span)  # bpftrace's words
        return v.check(self, e)

    def args_record(self, e: ast.Builtin) -> T.TupleType:
        """``args`` as a value (print(args), @[args], ($x = args)): the
        record of its fields, as bpftrace 0.26 prints it; each field is
        read as ``args.NAME`` reads it."""
        fields = []
        inner = ast.Builtin(e.span, "args")  # typed as args of fields, as in args.x
        for f in self._probe.args or ():
            if f.name.startswith("$"):   # fexit's $retval is no argument
                continue
            fa = ast.FieldAccess(e.span, inner, f.name)
            fa.type = self.expr(fa)
            fields.append(fa)
        e.record = tuple(fields)
        return T.TupleType(tuple(fa.type for fa in fields), tuple(fa.field for fa in fields))

    def debug_args(self) -> None:
        """A uprobe's ``args`` (a uretprobe's typed ``retval``) from the
        program's debug information, read the first time a probe asks."""
        exp = self._probe
        if exp.args is None and exp.debuginfo is not None:
            exp.args = exp.debuginfo.args()

    def var_read(self, v: ast.Variable) -> T.Type | None:
        if v.key not in self._scope.vars:
            if self.final:
                self.err(f"Undefined or undeclared variable used: ${v.name}", v.span)
            return None
        t = self._scope.vars[v.key]
        wide = self._widest.get(v.key)
        if t is None:
            # declared by `let $x;` and read before any assignment: bpftrace
            # 0.26 reads 0, of the type a later assignment gives (the last
            # pass's), else an integer
            if wide is None and not self.final:
                return None
            t = self._scope.vars[v.key] = wide or T.INT64
        if t is not None and wide is not None and wide != t:
            t = T.unify(t, wide) or t
        return t

    def binop(self, e: ast.Binop) -> T.Type | None:
        a, b = self.expr(e.left), self.expr(e.right)
        if a is None or b is None:
            return T.BOOL if e.op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||") else T.INT64
        if a.is_string() or b.is_string():
            if e.op in ("==", "!=") and a.is_string() and b.is_string():
                return T.BOOL
        if isinstance(a, T.ArrayType) and e.op in ("==", "!=") and a == b:
            return T.BOOL
            self.err(f"Invalid operands for '{e.op}': '{T.type_name(a)}' and "
                     f"'{T.type_name(b)}'", e.span)
        if isinstance(a, T.ArrayType) and a == b and e.op in ("==", "!="):
            return T.BOOL
        if isinstance(a, T.BufferType) and isinstance(b, T.BufferType) and e.op in ("==", "!="):
            return T.BOOL   # byte-wise, as bpftrace 0.26 compares buffers
        if not a.is_int() or not b.is_int():
            self.err(f"Invalid operands for '{e.op}': '{T.type_name(a)}' and "
                     f"'{T.type_name(b)}'", e.span)
        if e.op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||"):
            return T.BOOL
        if isinstance(a, T.PointerType) and e.op in ("+", "-") and \
                not isinstance(b, T.PointerType):
            # C's pointer arithmetic: steps of the pointed-to type's size
            target = self.types.pointee(a)
            e.scale = max(1, T.c_size(target)) if target is not None else 1
            return a
        return T.IntType(64, a.signed and b.signed)

    def unop(self, e: ast.Unop) -> T.Type | None:
        if e.op in ("++", "--"):
            target = e.operand
            if isinstance(target, ast.Map):
                t = self.map_value_read(target) if self.maps.get(target.ident) and \
                    self.maps[target.ident].value is not None else None
                info = self.map_info(target)
                self.map_key(target)
                info.assigned = True
                if info.value is None:
                    info.value = T.INT64
                    self._changed = True
                elif not info.value.is_int() or isinstance(info.value, T.AggType):
                    self.err(f"'{e.op}' needs an integer map: {target.ident}", e.span)
                target.type = info.value
                return info.value if t is None else t
            if isinstance(target, ast.Variable):
                t = self.var_read(target)
                if t is None:
                    if not self.final:
                        return None
                elif not t.is_int():
                    self.err(f"'{e.op}' needs an integer variable", e.span)
                return t
            self.err(f"'{e.op}' can only be applied to a map or a variable", e.span)
        if e.op == "&":
            return self.address_of(e)
        t = self.expr(e.operand)
        if t is None:
            return T.INT64
        if e.op == "*":
            return self.deref(t, e)
        if not t.is_int():
            self.err(f"Invalid operand for '{e.op}': '{T.type_name(t)}'", e.span)
        if e.op == "!":
            return T.BOOL
        if e.op in ("-", "~", "+"):
            return T.IntType(64, t.signed if e.op != "-" else True)
        self.err(f"Unary '{e.op}' is not supported yet", e.span)

    def field(self, e: ast.FieldAccess) -> T.Type | None:
        if isinstance(e.expr, ast.Builtin) and e.expr.name == "args":
            self.args_field = e.expr  # args.x: a field, not args as a value
        base = self.expr(e.expr)
        if base is None:
            return None
        if isinstance(base, T.ArgsType):
            f = self._probe.arg(e.field)
            if f is None:
                self.err(f"Can't find field '{e.field}' in args of {self._probe.name}", e.span)
            return self.arg_field_type(f, e.span)
        if isinstance(base, T.TupleType):
            if base.names and e.field in base.names:
                return base.elems[base.names.index(e.field)]
            if e.field.isdigit():
                return self.tuple_elem(base, int(e.field), e)
        st, user = base, getattr(base, "user", False)
        if isinstance(base, T.PointerType):
            # '.' on a pointer follows it, as '->' does (bpftrace 0.26)
            st = self.types.pointee(base)
        if isinstance(st, T.StructType):
            m = self.types.member(st, e.field)
            if m is None:
                self.err(f"Struct/union of type '{st.name}' does not contain a field "
                         f"named '{e.field}'", e.span)
            e.member = m
            if isinstance(m.type, T.FloatType):
                self.err(f"Can not read the floating-point field '{e.field}' of '{st.name}': "
                         "bpftrace has no floating-point values", e.span)
            if m.bits and m.type.is_int() and m.type.signed:
                # bpftrace 0.26 reads bitfields unsigned (`short b:8` of 217
                # prints 217, its bitfield_access_2 case)
                return dataclasses.replace(m.type, signed=False)
            return self.in_space(m.type, user)
        self.err(f"Can not access field '{e.field}' on type '{T.type_name(base)}'", e.span)

    def in_space(self, t: T.Type, user: bool) -> T.Type:
        """``t`` read from user memory: pointers in it point there too."""
        if user and isinstance(t, (T.PointerType, T.StructType, T.ArrayType)) and not t.user:
            return dataclasses.replace(t, user=True)
        return t

    def address_of(self, e: ast.Unop) -> T.Type | None:
        """``&x`` (bpftrace 0.26's unstable_addr): the address of a struct
        member, array element or dereferenced value (where it lies, in
        kernel or user memory), or of a value held in memory in the
        program (a string, tuple, record or struct variable, a literal)."""
        x = e.operand
        if isinstance(x, ast.Map):
            self.err("The address of a map is not supported yet", e.span)
        t = self.expr(x)
        if t is None:
            return None
        if isinstance(x, ast.FieldAccess) and x.member is not None and x.member.bits:
            self.err(f"Can not take the address of the bitfield '{x.field}'", e.span)
        typed = isinstance(x, (ast.FieldAccess, ast.Index, ast.Unop)) and (
            getattr(x, "member", None) is not None or isinstance(x, ast.Unop) and x.op == "*"
            or isinstance(x, ast.Index) and not isinstance(x.expr.type, T.TupleType))
        if typed:
            base = x.operand if isinstance(x, ast.Unop) else x.expr
            return pointer_to(t, getattr(base.type, "user", False))
        if isinstance(x, (ast.FieldAccess, ast.Index)) and isinstance(x.expr.type, T.TupleType):
            return pointer_to(t, False)  # &$t.0: an element of a tuple in memory
        if t.is_int():
            what = f"the variable ${x.name}" if isinstance(x, ast.Variable) else "an integer value"
            self.err(f"The address of {what} is not supported yet: bpfscope keeps "
                     "integers in registers", e.span)
        if isinstance(t, (T.VoidType, T.AggType, T.ArgsType)):
            self.err(f"Invalid operand for '&': '{T.type_name(t)}'", e.span)
        return pointer_to(t, False)

    def deref(self, t: T.Type, e: ast.Unop) -> T.Type | None:
        if t.is_int() and not isinstance(t, T.PointerType):
            return T.INT64   # as bpftrace: an integer address holds an int64
        if not isinstance(t, T.PointerType):
            self.err(f"Can not dereference type '{T.type_name(t)}'", e.span)
        target = self.types.pointee(t)
        if target is None or (isinstance(target, T.StructType) and not target.size):
            self.err(f"Can not dereference '{T.type_name(t)}': the pointed-to type "
                     "is unknown or incomplete", e.span)
        return self.in_space(target, t.user)

    def index(self, e: ast.Index) -> T.Type | None:
        base = self.expr(e.expr)
        if isinstance(base, T.TupleType):
            if not isinstance(e.index, ast.Integer):
                # bpftrace 0.26: any index known at compile time, `$t[1 - 1]`
                self.expr(e.index)
                value = self.const_value(e.index)
                if value is None:
                    self.err("The index of a tuple must be an integer literal", e.index.span)
                e.index = ast.Integer(e.index.span, value, str(value))
            return self.tuple_elem(base, e.index.value, e)
        it = self.expr(e.index)
        if base is None:
            return None
        if it is not None and not it.is_int():
            self.err(f"The index must be an integer, not '{T.type_name(it)}'", e.index.span)
        if isinstance(base, T.ArrayType):
            if isinstance(e.index, ast.Integer) and not 0 <= e.index.value < base.count:
                self.err(f"Index {e.index.value} is out of bounds for an array of "
                         f"{base.count} elements", e.index.span)
            return self.in_space(base.elem, base.user)
        if isinstance(base, T.StringType):
            # bpftrace 0.26 indexes strings as the char arrays they are
            if isinstance(e.index, ast.Integer) and not 0 <= e.index.value < base.length:
                self.err(f"Index {e.index.value} is out of bounds for a string of "
                         f"{base.length} bytes", e.index.span)
            return T.IntType(8, True)
        if isinstance(base, T.PointerType):
            target = self.types.pointee(base)
            if target is None or not T.c_size(target):
                self.err(f"Can not index '{T.type_name(base)}': the pointed-to type "
                         "has no size", e.span)
            return self.in_space(target, base.user)
        self.err(f"The [] operator can not be used on type '{T.type_name(base)}'", e.span)

    def cast(self, e: ast.Cast) -> T.Type | None:
        t = self.expr(e.expr)
        target = self.typespec(e.type_spec, e.expr.type if t is not None else None)
        if isinstance(target, T.PointerType) and not target.user and \
                self._probe.layout.user:
            target = dataclasses.replace(target, user=True)
        if t is None:
            return target
        if isinstance(target, T.ArrayType) or isinstance(t, T.ArrayType):
            if not (t.is_int() or isinstance(t, T.ArrayType)) or \
                    isinstance(target, T.ArrayType) and not target.elem.is_int() or \
                    sizeof(t) != sizeof(target):
                self.err(f"Cannot cast from '{T.type_name(t)}' to '{T.type_name(target)}': "
                         "an array cast needs integers of the same total size", e.span)
            return target
        if isinstance(target, T.BoolType) and isinstance(t, T.StringType):
            return target  # bpftrace 0.26: a string is true unless empty
        if not t.is_int() or not target.is_int():
            self.err(f"Cannot cast from '{T.type_name(t)}' to '{T.type_name(target)}'", e.span)
        return target

    def offsetof(self, e: ast.Offsetof) -> T.Type:
        t = self.typespec(e.type_arg) if e.type_arg is not None else self.expr(e.expr)
        off = 0
        for name in e.fields:
            if isinstance(t, T.PointerType) and e.expr is not None:
                t = self.types.pointee(t)
            if not isinstance(t, T.StructType):
                self.err(f"offsetof() needs a struct or union, not '{T.type_name(t)}'", e.span)
            m = self.types.member(t, name)
            if m is None:
                self.err(f"Struct/union of type '{t.name}' does not contain a field "
                         f"named '{name}'", e.span)
            if m.bits:
                self.err(f"offsetof() of the bitfield '{name}'", e.span)
            off += m.offset
            t = m.type
        e.size = off
        return T.UINT64

    def tuple_elem(self, t: T.TupleType, i: int, e: ast.Expr) -> T.Type:
        if not 0 <= i < len(t.elems):
            self.err(f"Invalid tuple index: {i}. Found {len(t.elems)} elements in tuple.", e.span)
        return t.elems[i]

    def arg_field_type(self, f, span) -> T.Type:
        if f.kind == "int":
            if f.c_type.startswith("enum "):
                # a tracepoint's enum field prints as its enumerator (0.26)
                t = self.types.named(f.c_type)
                if isinstance(t, T.EnumType):
                    return dataclasses.replace(t, bits=f.size * 8, signed=f.signed)
            return T.IntType(f.size * 8, f.signed)
        if f.kind == "bool":
            return T.BOOL
        if f.kind == "pointer":
            t = self.types.named(f.c_type)
            ref = t.ref if isinstance(t, T.PointerType) else ()
            # a typedef of a pointer (fl_owner_t) names no '*' of its own
            target = (f.c_type[:-1].rstrip() if f.c_type.endswith("*") else
                      t.target if isinstance(t, T.PointerType) else "void")
            return T.PointerType(target=target, user=f.user, ref=ref)
        if f.kind == "char_array":
            return T.StringType(f.size)
        if f.kind == "data_loc_string":
            return T.StringType(self.max_strlen)
        if f.kind == "array" and f.array_len and f.size // f.array_len in (1, 2, 4, 8):
            return T.ArrayType(T.IntType(f.size // f.array_len * 8, f.signed), f.array_len)
        self.err(f"Fields of type '{f.c_type}' are not supported yet", span)

    def typespec(self, ts: ast.TypeSpec, source: T.Type | None = None) -> T.Type:
        """The type ``ts`` names; ``source`` is the value a cast converts,
        which gives an array cast without a size its length."""
        if ts.name == "string" and not ts.pointer_depth:
            return T.StringType(ts.array_size or self.max_strlen)
        t = self.types.named(ts.name + " *" * ts.pointer_depth)
        if t is None and ts.pointer_depth:
            t = T.PointerType(target=ts.name + " *" * (ts.pointer_depth - 1))
        if t is None:
            self.err(f"Unknown type: '{ts.name}'", ts.span)
        if ts.array_size is not None:
            n = ts.array_size
            if not n:
                n = sizeof(source) // max(1, T.c_size(t)) if source is not None else 0
            return T.ArrayType(t, n, T.c_size(t))
        return t

    def kernel_function(self, name: str) -> int | None:
        """The BTF id of a kernel function BPF programs may call, if the
        running kernel has it (codegen emits the call with this id)."""
        from ..btf import load_vmlinux
        try:
            return load_vmlinux().find(name, "func")
        except Exception:  # noqa: BLE001 - no BTF: no kernel functions
            return None

    def kernel_offsets(self, e: ast.Node, what: str, *members: tuple[str, str]) -> tuple:
        """Offsets of kernel struct members in the running kernel's BTF."""
        from ..btf import load_vmlinux
        try:
            kb = load_vmlinux()
            return tuple(kb.offsetof(struct, member) for struct, member in members)
        except Exception as err:  # noqa: BLE001 - any BTF failure: say so
            self.err(f"{what} needs the kernel's BTF: {err}", e.span)

    def const_int(self, e: ast.Expr, what: str) -> int:
        """The value of an integer literal (or -literal, or integer $N)
        where one is required, kept on the node for codegen."""
        e.const_value = self._const_int(e, what)
        return e.const_value

    def _const_int(self, e: ast.Expr, what: str) -> int:
        if isinstance(e, ast.Integer):
            return e.value
        if isinstance(e, ast.Unop) and e.op == "-" and isinstance(e.operand, ast.Integer):
            return -e.operand.value
        if isinstance(e, ast.PositionalParam):
            t = self.positional(e)
            if t.is_int():
                return param_int(self.params[e.index - 1]) if 0 < e.index <= len(self.params) else 0
        self.err(f"{what}: expected an integer literal", e.span)

    # ------------------------------------------------------------ functions

    def nargs(self, e: ast.Call, lo: int, hi: int | None = None):
        hi = lo if hi is None else hi
        n = len(e.args)
        if lo <= n <= hi:
            return
        if lo == hi:
            want = f"{lo} argument" + ("s" if lo != 1 else "")
            self.err(f"{e.name}() requires {want} ({n} provided)", e.span)
        self.err(f"{e.name}() requires between {lo} and {hi} arguments ({n} provided)", e.span)

    def int_arg(self, e: ast.Call, i: int) -> T.Type | None:
        t = self.expr(e.args[i])
        if t is not None and not t.is_int():
            self.err(f"{e.name}() expects an integer for argument {i + 1} "
                     f"('{T.type_name(t)}' provided)", e.args[i].span)
        return t

    STACK_MODES = ("bpftrace", "perf", "raw", "build_id")
    MAX_STACK = 127  # the kernel's default perf_event_max_stack

    def stack_type(self, name: str, args: list, e) -> T.Type:
        """kstack / ustack with optional mode and frame limit, in either order."""
        mode = str(self.config.get("stack_mode", "bpftrace"))
        limit = self.MAX_STACK
        if len(args) > 2:
            self.err(f"{name}() takes at most 2 arguments (mode and limit)", e.span)
        for a in args:
            if isinstance(a, ast.Identifier):
                if a.name not in self.STACK_MODES:
                    self.err(f"{name}: unknown stack mode '{a.name}'; one of: "
                             + ", ".join(self.STACK_MODES), a.span)
                mode = a.name
            else:
                limit = self.const_int(a, name)
                if not 0 <= limit <= self.MAX_STACK:
                    self.err(f"{name}: the limit must be between 0 and {self.MAX_STACK}", a.span)
        if mode == "build_id" and name == "kstack":
            if self.final:
                warn("'build_id' stack mode can only be used for ustack. "
                     "Falling back to 'raw' mode.", e.span)
            mode = "raw"
        return T.StackType("kernel" if name == "kstack" else "user", limit, mode)

    def string_arg(self, e: ast.Call, i: int) -> T.Type | None:
        t = self.expr(e.args[i])
        if t is not None and not t.is_string():
            self.err(f"{e.name}() expects a string for argument {i + 1} "
                     f"('{T.type_name(t)}' provided)", e.args[i].span)
        return t

    def map_arg(self, e: ast.Call, i: int = 0) -> ast.Map:
        a = e.args[i] if len(e.args) > i else None
        if not isinstance(a, ast.Map):
            self.err(f"{e.name}() expects a map argument", (a or e).span)
        self.map_info(a)
        return a

    def not_aggregation(self, e: ast.Expr):
        """count(), hist() ... update a map entry: they have no value."""
        if isinstance(e, ast.Call) and registry.aggregation(e.name) is not None:
            self.err(f"{e.name}() must be assigned directly to a map", e.span)

    def call(self, e: ast.Call, statement: bool) -> T.Type | None:
        name = e.name
        e.discarded = statement
        self.not_aggregation(e)
        f = registry.lookup(name)
        if f is not None:
            return f.check(self, e)
        self.err(f"Unknown function: '{name}'", e.span)


def pointer_to(t: T.Type, user: bool) -> T.PointerType:
    """A pointer to a value of type ``t`` (what ``&x`` gives): to the
    struct, the integer, the first element of an array or string; to void
    for a tuple or record, which have no C type."""
    if isinstance(t, T.StructType):
        return T.PointerType(target=t.name, user=user, ref=t.ref)
    if isinstance(t, T.PointerType):
        return T.PointerType(target=t.target + " *", user=user)
    if isinstance(t, T.StringType):
        return T.PointerType(target="int8", user=user)
    if isinstance(t, T.ArrayType):
        return pointer_to(t.elem, user)
    if isinstance(t, T.BoolType):
        return T.PointerType(target="bool", user=user)
    if t.is_int():
        return T.PointerType(target=f"{'' if t.signed else 'u'}int{t.bits}", user=user)
    return T.PointerType(target="void", user=user)


def _ustack_by_dwarf(probe: ast.Probe) -> None:
    """config ustack_unwind = dwarf: every ``ustack`` and ``ustack(...)``
    of the probe becomes ``dw_ustack(...)`` (unwound by the modules' call
    frame information, so complete in code built without frame pointers)."""
    def fn(x):
        if isinstance(x, ast.Builtin) and x.name == "ustack":
            x = ast.Call(span=x.span, name="dw_ustack", args=[])
        elif isinstance(x, ast.Call) and x.name == "ustack":
            x.name = "dw_ustack"
        ast.replace_exprs(x, fn)
        return x
    ast.replace_exprs(probe, fn)
