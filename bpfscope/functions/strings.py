"""The string family: str, strlen, strncmp, strstr, strcontains,
str_concat and buf (raw bytes, printed with %r)."""

from __future__ import annotations

from ..codegen.insn import R0, R1, R2, R3
from ..codegen.loweringvalues import Int, Mem
from ..errors import SemanticError
from ..lang import ast
from ..sema import types as T
from ..sema.registry import Function, register
from .common import byte_source, unsupported


def literal_int(e: ast.Expr) -> int | None:
    """The value of an integer literal (or a negated one), else None."""
    if isinstance(e, ast.Integer):
        return e.value
    if isinstance(e, ast.Unop) and e.op == "-" and isinstance(e.operand, ast.Integer):
        return -e.operand.value
    return None


# ------------------------------------------------------------ str

def param_offset(an, e: ast.Expr) -> ast.Expr:
    """``$N + k`` in str(): bpftrace 0.26 reads the parameter's text from
    byte k on (k a literal, at most the text's length); it becomes that
    string literal here. Any other expression is returned as it is."""
    if not isinstance(e, ast.Binop):
        return e
    sides = (e.left, e.right) if isinstance(e.left, ast.PositionalParam) else (e.right, e.left)
    pos, off = sides
    if not isinstance(pos, ast.PositionalParam):
        return e
    text = an.params[pos.index - 1] if 1 <= pos.index <= len(an.params) else ""
    raw = ast.string_bytes(text)
    if e.op != "+" or not isinstance(off, ast.Integer) or not 0 <= off.value <= len(raw):
        an.err(f"only addition of a single constant less or equal to the length of "
               f"${pos.index} (which is {len(raw)}) is allowed inside str()", e.span)
    return ast.String(e.span, raw[off.value:].decode("utf-8", "surrogateescape"))


def literal_text(an, e: ast.Expr) -> str | None:
    """The text of a string literal, or of str() of a positional parameter
    (``str($1)``, ``str($1 + 2)``), which kaddr() and uaddr() take as a
    literal, as bpftrace 0.26 does; else None."""
    if isinstance(e, ast.String):
        return e.value
    if isinstance(e, ast.Call) and e.name == "str" and len(e.args) == 1:
        arg = param_offset(an, e.args[0])
        if isinstance(arg, ast.String):
            return arg.value
        if isinstance(arg, ast.PositionalParam):
            return an.params[arg.index - 1] if 1 <= arg.index <= len(an.params) else ""
    return None


def check_str(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 2)
    e.args[0] = param_offset(an, e.args[0])
    t = an.expr(e.args[0])
    if isinstance(e.args[0], ast.PositionalParam):
        # bpftrace reads a positional parameter in str() as its text
        idx = e.args[0].index
        text = an.params[idx - 1] if idx <= len(an.params) else ""
        t = e.args[0].type = T.StringType(len(ast.string_bytes(text)) + 1)
    n = an.max_strlen
    if len(e.args) == 2:
        an.int_arg(e, 1)
        if isinstance(e.args[1], ast.Integer):
            n = max(1, min(e.args[1].value + 1, an.max_strlen))
    if t is not None and not (t.is_int() or t.is_string()):
        an.err(f"str() expects a string or a pointer ('{T.type_name(t)}' provided)", e.span)
    if t is not None and t.is_string():
        return T.StringType(min(t.length, n)) if len(e.args) == 2 else t
    return T.StringType(n)


def store_str(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    b = lw.b
    arg = e.args[0]
    # a variable or map may hold wider strings than this str() makes:
    # its limit still holds
    length = min(t.length, e.type.length)
    if arg.type.is_string() or isinstance(arg, ast.PositionalParam):
        return lw.store_string(arg, dst, length)
    n = length
    if len(e.args) == 2 and not isinstance(e.args[1], ast.Integer):
        n = lw.runtime_str_size(e.args[1], length)
    ptr = lw.int_expr(arg)
    lw.zero(dst)
    lw.addr(R1, dst)
    b.mov(R2, n if isinstance(n, int) else n.reg)
    b.mov(R3, ptr.reg)
    b.call(lw.read_helper(arg.type, string=True))
    # a length computed as the probe runs is cut at max_strlen too: the
    # read filled max_strlen bytes only when it asked for that many
    if length == lw.sc.an.max_strlen and (n == length or isinstance(n, Int)):
        lw.count_cut(ptr, length, arg.type, lw.sc.drop_site("strcut", "str", e.span))


# ------------------------------------------------------------ strlen, strncmp

def check_strlen(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    an.string_arg(e, 0)
    e.kfunc = an.kernel_function("bpf_strnlen")
    return T.UINT64


def lower_strlen(lw, e: ast.Call) -> Int:
    """Bytes before the first NUL: the kernel's bpf_strnlen (Linux 6.17)
    where it has it, as bpftrace 0.26 does, else unrolled over the buffer."""
    b = lw.b
    s = lw.mem_expr(e.args[0])
    n, x = b.vreg(), b.vreg()
    if e.kfunc is not None:
        lw.addr(R1, s)
        b.mov(R2, s.size)
        b.kfunc_call(e.kfunc)
        b.mov(n, R0)
        # an int, the buffer's size when it holds no NUL; an error
        # (it cannot fault on the program's own memory) counts as empty
        b.alu("lsh", n, 32)
        b.alu("arsh", n, 32)
        ok = b.label("strlen")
        b.jcond("sge", n, 0, ok)
        b.mov(n, 0)
        b.place(ok)
        return Int(n)
    done = b.label("strlen")
    b.mov(n, 0)
    for i in range(s.size):
        b.ldx(1, x, s.base, s.off + i)
        b.jcond("eq", x, 0, done)
        b.alu("add", n, 1)
    b.place(done)
    return Int(n)


def check_strncmp(an, e: ast.Call) -> T.Type:
    an.nargs(e, 3)
    an.string_arg(e, 0)
    an.string_arg(e, 1)
    an.const_int(e.args[2], "strncmp")
    return T.INT64


def lower_strncmp(lw, e: ast.Call) -> Int:
    """0 when the first ``n`` bytes (up to a shared NUL) are equal, else 1."""
    a, c = lw.mem_expr(e.args[0]), lw.mem_expr(e.args[1])
    n = min(e.args[2].const_value, a.size, c.size)
    return lw.compare_bytes(a, c, n, 0, 1)


# ------------------------------------------------------------ strstr, strcontains

def check_strstr(an, e: ast.Call) -> T.Type:
    an.nargs(e, 2)
    an.string_arg(e, 0)
    an.string_arg(e, 1)
    e.kfunc = an.kernel_function("bpf_strnstr")
    return T.INT64


# Without bpf_strnstr (Linux 6.17) the search is unrolled; this many
# (haystack x needle) byte pairs keep the program small enough.
UNROLLED_SEARCH = 64 * 64


def lower_strstr(lw, e: ast.Call) -> Int:
    """Index of the needle in the haystack, -1 when it is not there."""
    b = lw.b
    hay, needle = lw.mem_expr(e.args[0]), lw.mem_expr(e.args[1])
    r = b.vreg()
    kid = e.kfunc
    if kid is not None:
        lw.addr(R1, hay)
        lw.addr(R2, needle)
        b.mov(R3, hay.size)
        b.kfunc_call(kid)
        b.mov(r, R0)
        # an int: sign-extend its 32 bits; any error means not found
        b.alu("lsh", r, 32)
        b.alu("arsh", r, 32)
        found = b.label("found")
        b.jcond("sge", r, 0, found)
        b.mov(r, -1)
        b.place(found)
        return Int(r)
    if hay.size * needle.size > UNROLLED_SEARCH:
        raise SemanticError(
            f"{e.name}(): searching a {hay.size}-byte string for a {needle.size}-byte "
            "one needs the kernel's bpf_strnstr (Linux 6.17); use shorter strings "
            "(str(p, N) or max_strlen)", e.span)
    return unrolled_search(lw, hay, needle)


def unrolled_search(lw, hay: Mem, needle: Mem) -> Int:
    """strstr with both strings known only at run time, as straight
    code: every start position against every needle byte."""
    b = lw.b
    r, x, y = b.vreg(), b.vreg(), b.vreg()
    done = b.label("searched")
    b.mov(r, -1)
    for start in range(hay.size):
        nxt, hit = b.label(), b.label()
        for j in range(min(needle.size, hay.size - start + 1)):
            b.ldx(1, y, needle.base, needle.off + j)
            b.jcond("eq", y, 0, hit)  # the whole needle matched
            if start + j >= hay.size:
                b.ja(nxt)
                break
            b.ldx(1, x, hay.base, hay.off + start + j)
            b.jcond("ne", x, y, nxt)
        b.place(hit)
        b.mov(r, start)
        b.ja(done)
        b.place(nxt)
        # the haystack ends here: nothing further can match
        b.ldx(1, x, hay.base, hay.off + start)
        b.jcond("eq", x, 0, done)
    b.place(done)
    return Int(r)


def check_strcontains(an, e: ast.Call) -> T.Type:
    check_strstr(an, e)
    return T.BOOL


def lower_strcontains(lw, e: ast.Call) -> Int:
    """strstr(...) >= 0 where the kernel has bpf_strnstr or the needle
    is computed; else a naive search for the literal needle at every
    start position (straight code: 9 instructions a byte of haystack)."""
    b = lw.b
    if not isinstance(e.args[1], ast.String) or e.kfunc is not None:
        r = lower_strstr(lw, e).reg
        b.alu("rsh", r, 63)     # 1 when -1 (not found), else 0
        b.alu("xor", r, 1)
        return Int(r)
    hay = lw.mem_expr(e.args[0])
    needle = ast.string_bytes(e.args[1].value)
    r, x = b.vreg(), b.vreg()
    yes, done = b.label("found"), b.label()
    b.mov(r, 0)
    if not needle:
        b.ja(yes)
    for start in range(0, hay.size - len(needle) + 1 if needle else 0):
        nxt = b.label()
        # a NUL before this position ends the haystack
        if start:
            b.ldx(1, x, hay.base, hay.off + start - 1)
            b.jcond("eq", x, 0, done)
        for j, ch in enumerate(needle):
            b.ldx(1, x, hay.base, hay.off + start + j)
            b.jcond("ne", x, ch, nxt)
        b.ja(yes)
        b.place(nxt)
    b.ja(done)
    b.place(yes)
    b.mov(r, 1)
    b.place(done)
    return Int(r)


# ------------------------------------------------------------ str_concat

def check_str_concat(an, e: ast.Call) -> T.Type:
    """A new string with room for both (less one NUL), at most max_strlen."""
    an.nargs(e, 2)
    a, b = an.string_arg(e, 0), an.string_arg(e, 1)
    if a is None or b is None:
        return T.StringType(an.max_strlen)
    return T.StringType(min(a.length + b.length - 1, an.max_strlen))


def store_str_concat(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    """The first string, then the second from where the first ended, in
    a temporary with room for both whole; then as much as fits in
    ``dst``. Both copies are probe_read_kernel_str, whose result (bytes
    copied, NUL included) the verifier knows to be bounded, so the
    second copy starts at one unknown but bounded offset rather than
    forking one verifier path per possible length."""
    b = lw.b
    length = t.length
    a, c = lw.mem_expr(e.args[0]), lw.mem_expr(e.args[1])
    tmp = lw.stack_mem(a.size + c.size)
    lw.addr(R1, tmp)
    b.mov(R2, a.size)
    lw.addr(R3, a)
    b.call("probe_read_kernel_str")
    end = b.vreg()
    b.mov(end, R0)
    ok, inside = b.label(), b.label()
    b.jcond("sgt", end, 0, ok)
    b.mov(end, 1)
    b.place(ok)
    b.alu("sub", end, 1)
    b.jcond("le", end, a.size - 1, inside)
    b.mov(end, a.size - 1)
    b.place(inside)
    lw.addr(R1, tmp)
    b.alu("add", R1, end)
    b.mov(R2, c.size)
    lw.addr(R3, c)
    b.call("probe_read_kernel_str")
    n = min(length, tmp.size, dst.size)
    if n == lw.sc.an.max_strlen and tmp.size > n:
        # end + the second's bytes with its NUL: more than n is cut
        total, whole = b.vreg(), b.label("concat_whole")
        b.mov(total, R0)
        b.alu("add", total, end)
        b.jcond("sle", total, n, whole)
        lw.count_lost(lw.sc.drop_site("strcut", e.name, e.span))
        b.place(whole)
    if dst.size > n:
        lw.zero(dst)
    lw.copy(dst, tmp, n)
    b.st(1, dst.base, dst.off + n - 1, 0)  # cut short: still a C string


# ------------------------------------------------------------ buf

def check_buf(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 2)
    size = byte_source(an, e)
    cap = an.max_strlen
    if len(e.args) == 1:
        if size is None:
            an.err("buf() needs a length when reading from a pointer", e.span)
        return T.BufferType(min(size, cap))
    an.int_arg(e, 1)
    n = literal_int(e.args[1])
    if n is None:  # computed at run time, limited to the room below
        return T.BufferType(min(size or cap, cap))
    if n <= 0:
        an.err("buf() length must be positive", e.args[1].span)
    if e.args[0].type is not None and e.args[0].type.is_string():
        # bpftrace: n bytes, zeros past the string's end (buf("ok_key", 8))
        return T.BufferType(min(n, cap))
    return T.BufferType(min(n, cap, size or cap))


def bounded_length(lw, e: ast.Expr, cap: int, site: int = 0) -> Int:
    """A length computed at run time, made at most ``cap`` (unsigned, so
    a negative one is ``cap`` too): the verifier must see the bound
    before the length reaches a read helper. Each cut counts in drop
    ``site`` when one is given."""
    b = lw.b
    n = b.vreg()
    b.mov(n, lw.int_expr(e).reg)
    ok = b.label("len_ok")
    b.jcond("le", n, cap, ok)
    if site:
        lw.count_lost(site)
    b.mov(n, cap)
    b.place(ok)
    return Int(n)


def store_buf(lw, e: ast.Call, dst: Mem, t: T.BufferType) -> None:
    """(count, bytes) for buf(src [, length]): from a tracepoint array
    field or a string by copying, from a pointer with the read helper
    of its address space."""
    b = lw.b
    src, cap = e.args[0], t.length
    fixed = None if len(e.args) == 2 and not isinstance(e.args[1], ast.Integer) else cap
    lw.zero(dst)
    data = dst.at(8, cap)
    f = lw.ctx_field(src)
    site = buf_cut_site(lw, e, f, cap, fixed is None)
    if fixed is not None and f is not None and f.kind == "array":
        lw.copy_from_ctx(data, f.offset, cap)
    elif fixed is not None and src.type.is_string():
        lw.copy(data, lw.mem_expr(src), min(cap, src.type.length))
    elif fixed is not None and isinstance(src.type, T.ArrayType) and lw.is_typed_access(src):
        # an array member or element (int d[4]): its bytes, from where it is
        lw.read_into(data, lw.place(src), src.type)
    else:
        n = bounded_length(lw, e.args[1], cap, site).reg if fixed is None else cap
        if f is not None and f.kind == "array":
            where, helper = lw.ctx, "probe_read_kernel"
            off = f.offset
        elif src.type.is_string():
            m = lw.mem_expr(src)
            where, helper, off = m.base, "probe_read_kernel", m.off
        else:
            where = lw.int_expr(src).reg
            helper = lw.read_helper(src.type)
            off = 0
        lw.addr(R1, data)
        b.mov(R2, n)
        b.mov(R3, where)
        if off:
            b.alu("add", R3, off)
        b.call(helper)
        if fixed is None:
            b.stx(8, dst.base, dst.off, n)
            return
    b.st(8, dst.base, dst.off, cap)


def buf_cut_site(lw, e: ast.Call, f, cap: int, runtime: bool) -> int:
    """The drop site counting buf() values cut at max_strlen (0: none
    can be). A fixed length or source larger than max_strlen cuts every
    value, counted here; a run-time length is counted when it is cut."""
    strlen = lw.sc.an.max_strlen
    if cap != strlen:
        return 0
    src = e.args[0]
    sizes = [e.args[1].value] if len(e.args) == 2 and not runtime else []
    if f is not None and f.kind == "array":
        sizes.append(f.size)
    elif src.type.is_string():
        sizes.append(src.type.size)
    if not runtime and not (sizes and min(sizes) > strlen):
        return 0
    site = lw.sc.drop_site("strcut", "buf", e.span)
    if not runtime:
        lw.count_lost(site)
    return site


register(
    Function("str", check_str, store=store_str),
    Function("strlen", check_strlen, lower=lower_strlen),
    Function("strncmp", check_strncmp, lower=lower_strncmp),
    Function("strstr", check_strstr, lower=lower_strstr),
    Function("strcontains", check_strcontains, lower=lower_strcontains),
    Function("str_concat", check_str_concat, store=store_str_concat),
    Function("buf", check_buf, store=store_buf),
    unsupported("path"),
)
