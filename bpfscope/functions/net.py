"""The network family: ntop, pton, macaddr, socket_cookie and bswap
(byte order)."""

from __future__ import annotations


from ..codegen.insn import R0, R1, R2, R3
from ..codegen.loweringvalues import Int, Mem
from ..lang import ast
from ..sema import types as T
from ..sema.registry import Function, register
from .common import byte_source

AF_INET, AF_INET6 = 2, 10


def check_ntop(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1, 2)
    if len(e.args) == 2:
        an.int_arg(e, 0)
    addr = e.args[-1]
    t = an.expr(addr)
    if isinstance(t, T.ArrayType):
        if t.size not in (4, 16):
            an.err("ntop() expects a 4 or 16 byte address", addr.span)
    elif t is not None and not t.is_int():
        an.err(f"ntop() expects an integer or an array for argument "
               f"{len(e.args)} ('{T.type_name(t)}' provided)", addr.span)
    return T.InetType()


def store_ntop(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    """(family, 16 address bytes) for ntop([af,] addr): an address of
    a tracepoint byte array, or an IPv4 address held in an integer."""
    b = lw.b
    addr = e.args[-1]
    lw.zero(dst)
    f = lw.ctx_field(addr)
    if f is not None and f.kind == "array":
        family = AF_INET if f.size == 4 else AF_INET6
        lw.copy_from_ctx(dst.at(8, 16), f.offset, f.size)
    elif isinstance(addr.type, T.ArrayType):
        n = addr.type.size
        family = AF_INET if n == 4 else AF_INET6
        lw.copy(dst.at(8, 16), lw.mem_expr(addr), n)
    else:
        family = AF_INET
        v = lw.int_expr(addr)
        b.stx(4, dst.base, dst.off + 8, v.reg)
    if len(e.args) == 2:
        b.stx(8, dst.base, dst.off, lw.int_expr(e.args[0]).reg)
    else:
        b.st(8, dst.base, dst.off, family)


def pton_bytes(text: str) -> bytes | None:
    """The bytes of an IPv4 (``.``) or IPv6 (``:``) address, else None."""
    import ipaddress  # here, not at start-up: only pton() needs it
    try:
        if ":" in text:
            return ipaddress.IPv6Address(text).packed
        return ipaddress.IPv4Address(text).packed
    except ValueError:
        return None


def check_pton(an, e: ast.Call) -> T.Type:
    """The bytes of an address literal, known at compile time."""
    an.nargs(e, 1)
    a = e.args[0]
    if not isinstance(a, ast.String):
        an.err("pton() expects a string literal", a.span)
    an.expr(a)
    data = pton_bytes(a.value)
    if data is None:
        an.err(f"pton() expects an IPv4 or IPv6 address, got '{a.value}'", a.span)
    return T.ArrayType(T.UINT8, len(data))


def store_pton(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    lw.store_constant(pton_bytes(e.args[0].value), dst)


def check_macaddr(an, e: ast.Call) -> T.Type:
    """Six bytes from an array, a string or a pointer."""
    an.nargs(e, 1)
    a = e.args[0]
    size = byte_source(an, e)
    if size is not None and size < 6:
        an.err(f"macaddr() expects 6 bytes ('{T.type_name(a.type)}' provided)", a.span)
    return T.MacAddrType()


def store_macaddr(lw, e: ast.Call, dst: Mem, t: T.Type) -> None:
    """Six bytes of an array field, an array or string value, or of the
    memory a pointer points to."""
    b = lw.b
    src = e.args[0]
    f = lw.ctx_field(src)
    lw.zero(dst)
    if f is not None and not src.type.is_int():
        lw.copy_from_ctx(dst, f.offset, 6)
    elif not src.type.is_int():
        lw.copy(dst, lw.mem_expr(src), 6)
    else:
        ptr = lw.int_expr(src)
        lw.addr(R1, dst)
        b.mov(R2, 6)
        b.mov(R3, ptr.reg)
        b.call(lw.read_helper(src.type))


def check_socket_cookie(an, e: ast.Call) -> T.Type:
    """The kernel's cookie of a struct sock: a BTF-typed pointer the
    verifier knows, so only in probes whose arguments are typed from
    BTF (rawtracepoint with BTF, fentry/fexit)."""
    an.nargs(e, 1)
    an.int_arg(e, 0)
    if an.probe.program_type() != "tracing":
        an.err("socket_cookie() needs a struct sock pointer typed from BTF: use it in "
               "rawtracepoint (with BTF), tp_btf or fentry/fexit probes", e.span)
    return T.UINT64


def lower_socket_cookie(lw, e: ast.Call) -> Int:
    sk = lw.int_expr(e.args[0])  # still the verifier's typed pointer
    lw.b.mov(R1, sk.reg)
    lw.b.call("get_socket_cookie")
    r = lw.b.vreg()
    lw.b.mov(r, R0)
    return Int(r)


def check_bswap(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    t = an.int_arg(e, 0)
    bits = 64 if t is None or isinstance(t, T.PointerType) else max(t.bits, 8)
    return T.IntType(bits, False)


def lower_bswap(lw, e: ast.Call) -> Int:
    v = lw.int_expr(e.args[0])
    r = lw.b.vreg()
    lw.b.mov(r, v.reg)
    if e.type.bits > 8:
        lw.b.bswap(r, e.type.bits)
    else:
        lw.b.alu("and", r, 0xFF)
    return Int(r)


def check_skboutput(an, e: ast.Call) -> T.Type:
    """skboutput(path, skb, len, offset): packets to a pcap file through
    bpf_skb_output. Refused, with the reasons."""
    an.err("skboutput() is not supported yet: only fentry/fexit programs (given a BTF "
           "sk_buff pointer) may call bpf_skb_output, and bpfscope has no reader for the "
           "perf event array it writes packets to", e.span)


register(
    Function("skboutput", check_skboutput),
    Function("ntop", check_ntop, store=store_ntop),
    Function("pton", check_pton, store=store_pton),
    Function("macaddr", check_macaddr, store=store_macaddr),
    Function("socket_cookie", check_socket_cookie, lower=lower_socket_cookie),
    Function("bswap", check_bswap, lower=lower_bswap),
)
