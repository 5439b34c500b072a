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
