"""C spellings of BTF types: 'struct task_struct *', 'const char *',
'int[16]', 'void (*)(int, char *)'.

C writes a declaration inside out: the base type on the left, then a
declarator that wraps the name (or nothing, for a bare type name) in '*',
'[n]' and '(params)'. So the printer builds the declarator from the outside
in, passing the text built so far as ``inner`` down to the referenced type.
A pointer to an array or function needs parentheses, '(*)[4]', because '[]'
and '()' bind tighter than '*'.

Spacing follows bpftrace: a space before the first '*'
('struct file *', 'char **'), none before an array suffix ('int[16]').
BTF type tags (__user, __rcu) are not part of the C type and are skipped.
"""

from __future__ import annotations

from bpfscope.btf import kinds as K

ANON = "(anonymous)"     # printed where C would show an unnamed struct/union/enum
_QUALS = {K.CONST: "const", K.VOLATILE: "volatile", K.RESTRICT: "restrict"}
_MAX_DEPTH = 64


def type_name(btf, tid: int) -> str:
    """The C name of type ``tid`` as used in a cast or sizeof."""
    return _decl(btf, tid, "", 0)


def declaration(btf, tid: int, name: str) -> str:
    """A C declaration of ``name`` with type ``tid``: 'char comm[16]',
    'int (*fn)(void)'. A FUNC's own name is used when ``name`` is ''."""
    return _decl(btf, tid, name, 0)


def _join(base: str, inner: str) -> str:
    if not inner:
        return base
    if inner[0] in "[(":
        # 'int[16]' but 'int (*)(void)': bpftrace keeps arrays tight.
        return base + inner if inner[0] == "[" else base + " " + inner
    return base + " " + inner


def _tagged(kw: str, name: str) -> str:
    return f"{kw} {name or ANON}"


def _base_name(btf, t) -> str:
    k = t.kind
    if k == K.UNKN:
        return "void"
    if k in (K.STRUCT, K.FWD) and not getattr(t, "is_union", False):
        return _tagged("struct", t.name)
    if k in (K.UNION, K.FWD):
        return _tagged("union", t.name)
    if k in (K.ENUM, K.ENUM64):
        return _tagged("enum", t.name)
    return t.name or K.KIND_NAMES.get(k, "?").lower()


def _skip_tags(btf, tid: int) -> int:
    while btf.kind(tid) == K.TYPE_TAG:
        tid = btf.type(tid).type
    return tid


def _decl(btf, tid: int, inner: str, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return "?"
    tid = _skip_tags(btf, tid)
    t = btf.type(tid)
    k = t.kind
    if k == K.PTR:
        target = _skip_tags(btf, t.type)
        tk = btf.kind(target)
        star = "*" + inner
        if tk in (K.ARRAY, K.FUNC_PROTO):
            star = "(" + star + ")"
        return _decl(btf, target, star, depth + 1)
    if k in _QUALS:
        q = _QUALS[k]
        target = _skip_tags(btf, t.type)
        if btf.kind(target) == K.PTR:
            # The pointer itself is qualified: 'char *const p'.
            return _decl(btf, target, q + (" " + inner if inner else ""), depth + 1)
        return q + " " + _decl(btf, target, inner, depth + 1)
    if k == K.ARRAY:
        return _decl(btf, t.type, inner + f"[{t.nelems}]", depth + 1)
    if k == K.FUNC_PROTO:
        ps = [_decl(btf, p.type, "", depth + 1) for p in t.params]
        if t.variadic:
            ps.append("...")
        return _decl(btf, t.ret, f"{inner}({', '.join(ps) or 'void'})", depth + 1)
    if k == K.FUNC:
        return _decl(btf, t.type, inner or t.name, depth + 1)
    if k == K.VAR:
        return _decl(btf, t.type, inner or t.name, depth + 1)
    return _join(_base_name(btf, t), inner)


# ------------------------------------------------------------ definitions

def definition(btf, tid: int) -> str:
    """The C definition of a struct, union or enum, as ``-lv 'struct X'``
    prints it: one member a line, tab-indented, unnamed nested structs
    and unions written in place, bitfields with their width, ending with
    ``};``."""
    t = btf.type(tid)
    lines = [_open(t) + " {"]
    _body(btf, t, 1, lines, 0)
    lines.append("};")
    return "\n".join(lines)


def _open(t) -> str:
    if t.kind in (K.ENUM, K.ENUM64):
        kw = "enum"
    else:
        kw = "union" if t.is_union else "struct"
    return f"{kw} {t.name}" if t.name else kw


def _body(btf, t, level: int, lines: list[str], depth: int) -> None:
    pad = "\t" * level
    if t.kind in (K.ENUM, K.ENUM64):
        lines.extend(f"{pad}{v.name} = {v.value}," for v in t.values)
        return
    end = 0  # bit where the previous member ended
    for m in t.members:
        if not t.is_union:
            lines += _padding(end, m.bit_offset, _align_of(btf, m.type, 0),
                              bool(m.bitfield_size), pad)
        size = m.bitfield_size or 8 * _size_of(btf, m.type)
        end = m.bit_offset + size
        mt = _skip_tags(btf, m.type)
        inner = btf.type(mt)
        if inner.kind in (K.STRUCT, K.UNION) and not inner.name and depth < _MAX_DEPTH:
            lines.append(f"{pad}{_open(inner)} {{")
            _body(btf, inner, level + 1, lines, depth + 1)
            lines.append(f"{pad}}}{' ' + m.name if m.name else ''};")
            continue
        decl = declaration(btf, m.type, m.name)
        if m.bitfield_size:
            decl += f": {m.bitfield_size}"
        lines.append(f"{pad}{decl};")
    if not t.is_union and t.members:
        lines += _padding(end, 8 * t.size, _align_of(btf, 0, 0, t), False, pad)


# C's unnamed bitfields that hold a gap open, widest first
_PADS = (("long", 64), ("int", 32), ("short", 16), ("char", 8))


def _padding(cur: int, nxt: int, align: int, bitfield: bool, pad: str) -> list[str]:
    """``long: 64;``-style lines for the gap from bit ``cur`` to ``nxt``
    (where the next member, of ``align`` bytes, starts) that the next
    member's natural alignment would not leave by itself, as libbpf's C
    dumper writes them."""
    if cur >= nxt:
        return []
    out = []
    for name, bits in _PADS:  # the widest type whose boundary lies in the gap
        aligned = -(-cur // bits) * bits
        if aligned <= nxt:
            break
    natural = -(-cur // (align * 8)) * (align * 8)
    if cur < aligned <= nxt:
        # a marker is needed where the next member would not land there anyway
        if bitfield or (aligned == nxt and natural != aligned) or (
                aligned != nxt and nxt - aligned <= aligned - cur):
            out.append(f"{pad}{name}: {aligned - cur if bitfield else 0};")
        cur = aligned
    for name, bits in _PADS:
        while cur + bits <= nxt and -(-cur // (align * 8)) * (align * 8) < nxt:
            out.append(f"{pad}{name}: {bits};")
            cur += bits
    return out


def _size_of(btf, tid: int) -> int:
    try:
        return btf.sizeof(tid)
    except Exception:  # an incomplete type: nothing to lay out after it
        return 0


def _align_of(btf, tid: int, depth: int, t=None) -> int:
    """The natural alignment in bytes of a type, as a C compiler gives it
    (BTF does not record it)."""
    t = t if t is not None else btf.type(_skip_tags(btf, tid))
    k = t.kind
    if depth > _MAX_DEPTH:
        return 1
    if k in (K.PTR,):
        return 8
    if k in (K.INT, K.ENUM, K.ENUM64, K.FLOAT):
        return max(1, min(getattr(t, "size", 1), 8))
    if k in (K.TYPEDEF, K.CONST, K.VOLATILE, K.RESTRICT, K.TYPE_TAG):
        return _align_of(btf, t.type, depth + 1)
    if k == K.ARRAY:
        return _align_of(btf, t.type, depth + 1)
    if k in (K.STRUCT, K.UNION):
        return max((_align_of(btf, m.type, depth + 1) for m in t.members), default=1)
    return 1
