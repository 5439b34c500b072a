"""The analyser's part that types maps (sema.analyzer.Analyzer mixes it
in): declarations (`let @m = kind(N)`), keys and values as assignments
and reads fix them, what per-CPU and user-space maps may hold, and the
`for ($kv : @m)` loop variable. Map types are global: an assignment in a
later probe can widen a type an earlier read used, so each change sets
``_changed`` and the analyser runs again (see Analyzer.run)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Span
from ..lang import ast
from . import registry
from . import types as T

@dataclass
class MapInfo:
    name: str                      # with '@'
    key: T.TupleType | None = None  # element types of the key; () for none
    value: T.Type | None = None
    span: Span | None = None
    assigned: bool = False
    decl_kind: str = ""       # from `let @m = kind(N);`
    decl_entries: int = 0
    # keyed by what only user space makes a key of (dw_ustack()): kept
    # there, updated by records (runtime.usermap)
    user_space: bool = False


class MapTyping:
    """Map typing, on an Analyzer: ``self.maps`` (name -> MapInfo),
    ``err``, ``expr``, ``block``, ``const_int``, ``final``, ``_scope``."""

    MAP_KINDS = ("hash", "lruhash", "percpuhash", "percpulruhash", "percpuarray")

    def declare_maps(self):
        for d in self.program.map_decls:
            if d.kind not in self.MAP_KINDS:
                self.err(f"Unknown map kind '{d.kind}'; one of: "
                         + ", ".join(self.MAP_KINDS), d.span)
            if len(d.args) != 1:
                self.err(f"{d.kind}() takes the number of entries", d.span)
            n = self.const_int(d.args[0], d.kind)
            if n <= 0:
                self.err(f"{d.kind}(): the number of entries must be positive", d.args[0].span)
            name = "@" + d.name
            if name in self.maps:
                self.err(f"Map {name} is declared twice", d.span)
            self.maps[name] = MapInfo(name, span=d.span, decl_kind=d.kind, decl_entries=n)

    def check_map_kinds(self):
        """What a map declared per-CPU can hold: each CPU keeps its own
        value and user space adds them up, so integers and aggregations;
        an array is indexed by one integer below its size."""
        for m in self.maps.values():
            kind, v = m.decl_kind, m.value
            if not kind.startswith("percpu"):
                continue
            if isinstance(v, T.AggType):
                if kind == "percpuarray" and registry.aggregation(v.kind).bucketed:
                    self.err(f"{m.name} is a percpuarray: it can not hold {v.kind}() "
                             "(its buckets need a hash map)", m.span)
            elif type(v) is not T.IntType:
                self.err(f"{m.name} is a {kind}: its per-CPU values must be integers or "
                         f"aggregations, not '{T.type_name(v)}'", m.span)
            if kind == "percpuarray" and m.key is not None and m.key.elems and (
                    len(m.key.elems) > 1 or not m.key.elems[0].is_int()):
                keys = ", ".join(T.type_name(e) for e in m.key.elems)
                self.err(f"{m.name} is a percpuarray: its key must be one integer index "
                         f"below {m.decl_entries}, not ({keys})", m.span)

    def for_map(self, s: ast.ForMap):
        """``for ($kv : @map)``: $kv is (key, value), a tuple key for a map
        of several keys; it exists only in the loop's body (sema.scopes)."""
        inlined = {id(n) for c in ast.walk(s.body) if isinstance(c, ast.InlineCall)
                   for n in ast.walk(c.body)}
        for node in ast.walk(s.body):
            # a user function's return ends the call, not the probe
            if isinstance(node, ast.Jump) and node.kind == "return" and id(node) not in inlined:
                self.err("'return' statement is not allowed in a for-loop", node.span)
            # the body runs as a callback of its own, without the probe's context
            if isinstance(node, ast.Builtin) and getattr(registry.builtin(node.name),
                                                         "reads_args", False):
                self.err(f"'{node.name}' builtin is not allowed in a for-loop", node.span)
        info = self.map_info(s.map)
        vt = None
        if info.value is None:
            if self.final:
                self.err(f"Undefined map: {s.map.ident}", s.map.span)
        elif info.key is not None and not info.key.elems:
            self.err(f"{s.map.ident} has no explicit keys (scalar map), and cannot be "
                     "used for iteration", s.map.span)
        elif (isinstance(info.value, T.AggType)
              and not registry.aggregation(info.value.kind).readable):
            self.err(f"Loop expression does not support type: {T.type_name(info.value)}",
                     s.map.span)
        elif info.key is not None:
            key = info.key.elems[0] if len(info.key.elems) == 1 else info.key
            value = info.value
            if isinstance(value, T.AggType):
                value = T.IntType(64, value.signed)
            vt = T.TupleType((key, value))
        s.map.type = info.value
        s.var.type = vt
        if vt is not None:
            self._scope.vars[s.var.key] = vt
        self.block(s.body)

    def assign_map(self, s: ast.AssignMap):
        m = s.map
        v = s.value
        agg = registry.aggregation(v.name) if isinstance(v, ast.Call) else None
        if agg is not None:
            if s.op != "=":
                self.err(f"{v.name}() cannot be used with '{s.op}'", v.span)
            vt = agg.check(self, v)
        else:
            vt = self.expr(v)
            if s.op != "=":
                self.map_value_read(m)
                if vt is not None and not vt.is_int():
                    self.err(f"Invalid type for '{s.op}': {T.type_name(vt)}", v.span)
                vt = T.INT64 if vt is None else T.IntType(64, vt.signed)
            elif isinstance(vt, T.VoidType):
                self.err("Value of type 'none' cannot be assigned to a map", v.span)
            elif isinstance(vt, T.DwStackType):
                self.no_dw_stack_in_map("value", v.span)
        self.map_key(m)
        info = self.maps[m.ident]
        info.assigned = True
        if info.user_space:
            self.user_space_update(m, s, agg)
        if vt is None:
            return
        if info.value is None:
            info.value = vt
            self._changed = True
        else:
            u = T.unify(info.value, vt)
            if u is None:
                self.err(f"Type mismatch for {m.ident}: trying to assign value of type "
                         f"'{T.type_name(vt)}' when map already contains a value of type "
                         f"'{T.type_name(info.value)}'", m.span)
            if u != info.value:
                info.value = u
                self._changed = True
        m.type = info.value

    def map_info(self, m: ast.Map) -> MapInfo:
        info = self.maps.get(m.ident)
        if info is None:
            info = self.maps[m.ident] = MapInfo(m.ident, span=m.span)
            self._changed = True
        return info

    def map_key(self, m: ast.Map) -> T.TupleType | None:
        info = self.map_info(m)
        elems = []
        for k in m.keys:
            kt = self.expr(k)
            if kt is None:
                return None
            if isinstance(kt, (T.VoidType, T.AggType, T.ArgsType)):
                self.err(f"Invalid map key type: {T.type_name(kt)}", k.span)
            if isinstance(kt, T.DwStackType) or (
                    isinstance(kt, T.TupleType) and any(isinstance(e, T.DwStackType)
                                                        for e in kt.elems)):
                info.user_space = True
            elems.append(kt)
        if (len(elems) == 1 and isinstance(elems[0], T.TupleType) and elems[0].elems
                and not elems[0].names):
            # bpftrace 0.26: `@m[(1, 2)]` and `@m[1, 2]` are one key type
            # (a record stays one key: `@m[(a=1, b=2)]`)
            elems = list(elems[0].elems)
        key = T.TupleType(tuple(elems))
        if info.key is None:
            info.key = key
            self._changed = True
        else:
            u = T.unify(info.key, key)
            if u is None:
                want = ", ".join(f"'{T.type_name(e)}'" for e in info.key.elems) or "none"
                got = ", ".join(f"'{T.type_name(e)}'" for e in key.elems) or "none"
                span = m.keys[0].span.to(m.keys[-1].span) if m.keys else m.span
                self.err(f"Argument mismatch for {m.ident}: trying to access with arguments: "
                         f"{got} when map expects arguments: {want}", span)
            if u != info.key:
                info.key = u
                self._changed = True
        return info.key

    def no_dw_stack_in_map(self, what: str, span) -> None:
        self.err(f"dw_ustack() can not be a map {what}: it holds a copy of the thread's "
                 "stack, which differs at every event (and takes 8 KB an entry); print "
                 "it (printf, print), or key a map by it", span)

    def user_space_update(self, m: ast.Map, s: ast.AssignMap, agg) -> None:
        """What a map kept in user space (keyed by dw_ustack()) can take:
        plain assignments and the aggregations user space can fold."""
        if s.op != "=":
            self.err(f"{m.ident} is kept in user space (its key holds dw_ustack()): "
                     f"'{s.op}' would read it in the probe; use count() or sum()", s.span)
        if agg is not None and agg.fold is None:
            self.err(f"{agg.name}() can not update {m.ident}, which is kept in user space "
                     "(its key holds dw_ustack())", s.value.span)

    def no_user_space_read(self, m: ast.Map) -> None:
        if self.maps[m.ident].user_space:
            self.err(f"{m.ident} is kept in user space (its key holds dw_ustack()): a probe "
                     "can update, print, clear and zero it, not read it", m.span)

    def map_value_read(self, m: ast.Map) -> T.Type | None:
        self.map_key(m)
        self.no_user_space_read(m)
        info = self.maps[m.ident]
        v = info.value
        if v is None:
            if self.final:
                self.err(f"Undefined map: {m.ident}", m.span)
            return None
        if isinstance(v, T.AggType):
            if not registry.aggregation(v.kind).readable:
                self.err(f"Reading a {v.kind}() map is not supported: {m.ident}", m.span)
            return T.IntType(64, v.signed)
        return v
