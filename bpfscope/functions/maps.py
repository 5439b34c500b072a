"""The map family: has_key, delete, clear, zero and len (of a map, or of
the current stack)."""

from __future__ import annotations

from ..codegen.insn import R0, R1, R2, R3, R4
from ..codegen.lower_formap import CALLBACK_ARGS
from ..codegen.loweringvalues import Int
from ..errors import SemanticError
from ..lang import ast
from ..runtime.mapread import zero_map
from ..runtime.usermap import UserMap
from ..sema import types as T
from ..sema.registry import Function, aggregation, register


def _check_key_args(an, m: ast.Map, keys: list[ast.Expr]) -> None:
    """The keys of has_key(@m, k...) / delete(@m, k): a tuple literal and
    the same values as a multi-key are one key type, as in bpftrace 0.26
    (`@m[1, 2]` is `has_key(@m, (1, 2))`)."""
    if len(keys) == 1 and isinstance(keys[0], ast.Tuple):
        keys = keys[0].elems
    an.map_key(ast.Map(m.span, m.name, list(keys), True))


def _key_args(lw, m: ast.Map, keys: list[ast.Expr]) -> list[ast.Expr]:
    if len(keys) == 1 and isinstance(keys[0], ast.Tuple) and len(lw.sc.maps[m.ident].key.elems) > 1:
        return list(keys[0].elems)
    return list(keys)


def check_has_key(an, e: ast.Call) -> T.Type:
    if len(e.args) < 2:
        an.err("has_key() requires a map and a key", e.span)
    m = an.map_arg(e)
    if m.keys:
        an.err("has_key() expects a map without a key as first argument", m.span)
    _check_key_args(an, m, e.args[1:])
    return T.BOOL


def lower_has_key(lw, e: ast.Call) -> Int:
    m = e.args[0]
    key = lw.map_key(m, _key_args(lw, m, e.args[1:]))
    p = lw.lookup(m.ident, key)
    r = lw.b.vreg()
    lw.b.mov(r, 1)
    done = lw.b.label()
    lw.b.jcond("ne", p, 0, done)
    lw.b.mov(r, 0)
    lw.b.place(done)
    return Int(r)


def check_clear(an, e: ast.Call) -> T.Type:
    """clear(@m) and zero(@m): done by user space, on a record's word."""
    an.nargs(e, 1)
    an.map_arg(e)
    return T.VOID


def emit_clear(lw, e: ast.Call) -> None:
    lw.emit_event(lw.sc.event(e.name, map=e.args[0].ident), [])


def on_clear(session, ev, data: bytes) -> None:
    session.maps[ev.map].clear()


def on_zero(session, ev, data: bytes) -> None:
    m = session.maps[ev.map]
    if isinstance(m, UserMap):
        m.zero()
    else:
        zero_map(session.script.maps[ev.map], m)


def check_delete(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 2)
    m = an.map_arg(e)
    if an.maps[m.ident].decl_kind == "percpuarray":
        an.err(f"delete() can not remove elements of a percpuarray map ({m.ident}); "
               "use zero() or clear()", e.span)
    if len(e.args) == 2:
        if m.keys:
            an.err("delete() with two arguments expects a map without a key", e.span)
        _check_key_args(an, m, e.args[1:])
    else:
        an.map_key(m)
    # bpftrace 0.26: whether there was an element to delete
    return T.BOOL


def lower_delete(lw, e: ast.Call) -> Int:
    m = e.args[0]
    spec = lw.sc.maps[m.ident]
    agg = aggregation(spec.kind)
    if agg is not None and agg.bucketed:
        raise SemanticError("delete() of a histogram entry is not supported yet", e.span)
    key = lw.map_key(m, _key_args(lw, m, e.args[1:]) if len(e.args) == 2 else None)
    b = lw.b
    lw.kernel_map(m.ident)
    b.ld_map_fd(R1, m.ident)
    lw.addr(R2, key)
    b.call("map_delete_elem")
    r = b.vreg()
    b.mov(r, 1)
    done = b.label()
    b.jcond("eq", R0, 0, done)
    b.mov(r, 0)
    if e.discarded and lw.helper_checks():
        # -k: a delete whose result nobody looks at and that found nothing
        # is counted for user space's warning (bpftrace 0.26)
        lw.count_lost(lw.sc.drop_site("delete", m.ident, e.span))
    b.place(done)
    return Int(r)


def check_len(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    a = e.args[0]
    if isinstance(a, ast.Map) and not a.keys:
        info = an.map_info(a)
        if an.final and info.key is not None and not info.key.elems:
            an.err("call to len() expects a map with explicit keys (non-scalar map)", a.span)
        # without it (before 6.6) bpf_for_each_map_elem counts (5.13)
        e.kfunc = an.kernel_function("bpf_map_sum_elem_count")
        return T.INT64
    t = an.expr(a)
    if t is not None and not isinstance(t, T.StackType):
        an.err("call to len() expects a map, ustack, or kstack", a.span)
    if not (isinstance(a, ast.Builtin) or isinstance(a, ast.Call)) or \
            a.name not in ("kstack", "ustack"):
        an.err("len() of a stack needs kstack or ustack itself as its argument "
               "(a stack held in a variable or map is not supported yet)", a.span)
    return T.INT64


def lower_len(lw, e: ast.Call) -> Int:
    """Entries of a map (the kernel's per-map element count), or the
    frames of the current stack (bpf_get_stack's bytes / 8)."""
    b = lw.b
    a = e.args[0]
    r = b.vreg()
    if isinstance(a, ast.Map):
        lw.kernel_map(a.ident)
        spec = lw.sc.maps.get(a.ident)
        b.ld_map_fd(R1, a.ident)
        if e.kfunc is not None and (spec is None or "array" not in spec.map_type):
            b.kfunc_call(e.kfunc)
        else:
            # bpf_for_each_map_elem returns how many elements it visited:
            # a callback that goes on to the next is all it takes (as
            # bpftrace 0.26 does before 6.6, and for arrays, whose count
            # the kernel does not keep)
            lw.n_callbacks += 1
            cb = b.function(f"map_len_{lw.n_callbacks}", CALLBACK_ARGS)
            cb.mov(R0, 0)
            cb.exit_()
            b.ld_func(R2, cb)
            b.mov(R3, 0)
            b.mov(R4, 0)
            b.call("for_each_map_elem")
        b.mov(r, R0)
        return Int(r)
    t = a.type
    buf = lw.stack_mem(t.elem * max(t.limit, 1))
    b.mov(R1, lw.ctx)
    lw.addr(R2, buf)
    b.mov(R3, t.elem * t.limit)
    b.mov(R4, lw.stack_flags(t))
    b.call("get_stack")
    b.mov(r, R0)
    ok = b.label()
    b.jcond("sge", r, 0, ok)
    b.mov(r, 0)
    b.place(ok)
    b.alu("rsh", r, t.elem.bit_length() - 1)
    return Int(r)


register(
    Function("has_key", check_has_key, lower=lower_has_key),
    Function("clear", check_clear, emit=emit_clear, on_record={"clear": on_clear}),
    Function("zero", check_clear, emit=emit_clear, on_record={"zero": on_zero}),
    Function("delete", check_delete, lower=lower_delete),
    Function("len", check_len, lower=lower_len),
)
