"""Itanium C++ ABI demangler, printing what GNU ``c++filt`` prints.

The mangled name is parsed by recursive descent (grammar of the Itanium
C++ ABI, section 5.1) into a small tree of nodes, then printed. Types print
in two halves, ``left`` and ``right``, so declarators wrap around what they
declare (``void (*)(int)``, ``int (*) [3]``, ``void (A::*)() const``).

GNU conventions followed, since users compare against c++filt and
bpftrace (which uses libiberty's demangler through bcc):

* cv-qualifiers after the type: ``char const*``, ``std::string const&``;
* ``, `` between arguments, ``> >`` when template lists close together,
  ``operator< <int>`` when a template list opens after ``<``;
* standard abbreviations print short (``std::string``) except as the
  prefix of a constructor/destructor, where they print in full;
* GCC clone suffixes print as `` [clone .cold]``.

Substitutions (``S_``, ``S0_``...) and template parameters (``T_``...)
follow the ABI's rules for which components are substitution candidates;
template parameters resolve lazily, when printed, against the template
arguments of the enclosing encoding.

:func:`demangle` returns the mangled name unchanged when it is not a
mangled name or uses something this demangler does not know (as c++filt
does). :func:`strip_params` and :func:`matches_qualified_name` serve the
tracer's ``uprobe:lib:ns::Klass::method`` lookup.
"""

from __future__ import annotations

import re
from typing import Iterable


class DemangleError(ValueError):
    """The name is not valid Itanium mangling (or uses unsupported parts)."""


# ---------------------------------------------------------------------------
# Printing helpers


class _Out:
    """An output buffer that knows its last character."""

    __slots__ = ("parts", "pack_index", "pack_max", "stale", "templates")

    def __init__(self):
        self.parts: list[str] = []
        # Template argument lists of the function templates being printed,
        # innermost last: T_ resolves against the last one (libiberty's
        # print-time rule, which c++filt output depends on).
        self.templates: list[list[Node]] = []
        # libiberty removes ", " before an argument that printed nothing (an
        # empty pack) but keeps ' ' as its idea of the last character, so
        # '>' that follows gets no space: "A<B<C>>". Mimic that.
        self.stale: str | None = None
        # While printing one element of a pack expansion: which element.
        self.pack_index: int | None = None
        self.pack_max: int | None = None

    def w(self, s: str) -> None:
        if s:
            self.parts.append(s)
            self.stale = None

    def mark(self) -> tuple[int, str | None]:
        return len(self.parts), self.stale

    def last(self) -> str:
        if self.stale is not None:
            return self.stale
        for p in reversed(self.parts):
            if p:
                return p[-1]
        return ""

    def text(self) -> str:
        return "".join(self.parts)


class Node:
    """A demangled component. ``left``/``right`` print around a declarator;
    names only use ``left``."""

    def left(self, o: _Out) -> None:
        raise NotImplementedError

    def right(self, o: _Out) -> None:
        pass

    def has_rhs(self) -> bool:
        """True if printing needs the right half (arrays, functions)."""
        return False

    def is_array(self) -> bool:
        return False

    def is_function(self) -> bool:
        return False

    def print(self, o: _Out) -> None:
        self.left(o)
        self.right(o)

    def __str__(self) -> str:
        o = _Out()
        self.print(o)
        return o.text()

    # What a constructor of this name is called: the unqualified last part.
    def base_name(self) -> str:
        return str(self)


_ACTIVE: list[_Out] = []


def _print(n: Node) -> str:
    o = _Out()
    _ACTIVE.append(o)
    try:
        n.print(o)
    finally:
        _ACTIVE.pop()
    return o.text()


class Name(Node):
    def __init__(self, s: str):
        self.s = s

    def left(self, o):
        o.w(self.s)


class SpecialSub(Node):
    """std::string and friends: short or full spelling, and the name a
    constructor of them takes."""

    def __init__(self, short: str, full: str, last: str | None, verbose: bool):
        self.short, self.full, self.last, self.verbose = short, full, last, verbose

    def left(self, o):
        o.w(self.full if self.verbose else self.short)

    def base_name(self):
        return self.last or self.short


class AbiTagged(Node):
    def __init__(self, base: Node, tag: str):
        self.base, self.tag = base, tag

    def left(self, o):
        self.base.print(o)
        o.w(f"[abi:{self.tag}]")

    def base_name(self):
        return self.base.base_name()


class Nested(Node):
    def __init__(self, prefix: Node, name: Node):
        self.prefix, self.name = prefix, name

    def left(self, o):
        self.prefix.print(o)
        o.w("::")
        self.name.print(o)

    def base_name(self):
        return self.name.base_name()


class Template(Node):
    def __init__(self, name: Node, args: "TemplateArgs"):
        self.name, self.args = name, args

    def left(self, o):
        self.name.print(o)
        self.args.print(o)

    def base_name(self):
        return self.name.base_name()


class TemplateArgs(Node):
    def __init__(self, args: list[Node]):
        self.args = args

    def left(self, o):
        if o.last() == "<":
            o.w(" ")
        o.w("<")
        _print_list(o, self.args)
        if o.last() == ">":
            o.w(" ")
        o.w(">")


class ArgPack(Node):
    """J ... E: a template argument pack; prints its elements."""

    def __init__(self, args: list[Node]):
        self.args = args

    def left(self, o):
        _print_list(o, self.args)


def _print_list(o: _Out, items: list[Node]) -> None:
    """Comma-separated, as libiberty: an item that prints nothing (an empty
    pack) takes its preceding ", " away with it, except in first place."""
    for i, a in enumerate(items):
        if i:
            o.w(", ")
            n = len(o.parts)
            a.print(o)
            if len(o.parts) == n:
                o.parts.pop()
                o.stale = " "
        else:
            a.print(o)


class Ctor(Node):
    def __init__(self, name: Node | None, dtor: bool):
        self.name, self.dtor = name, dtor

    def left(self, o):
        if self.dtor:
            o.w("~")
        o.w(self.name.base_name() if self.name is not None else "")


class Operator(Node):
    def __init__(self, sym: str):
        self.sym = sym

    def left(self, o):
        if self.sym[0].isalpha():
            o.w("operator " + self.sym)
        else:
            o.w("operator" + self.sym)


class ConversionOp(Node):
    def __init__(self, ty: Node):
        self.ty = ty

    def left(self, o):
        o.w("operator ")
        self.ty.print(o)


class LiteralOp(Node):
    def __init__(self, name: str):
        self.name = name

    def left(self, o):
        o.w(f'operator"" {self.name}')


class Local(Node):
    """A name local to a function: ``f()::x``."""

    def __init__(self, func: Node, entity: Node):
        self.func, self.entity = func, entity

    def left(self, o):
        f = self.func
        if isinstance(f, Function) and f.ret is not None:
            # c++filt leaves the enclosing function's return type out.
            f = Function(f.name, None, f.params, f.quals, f.ref)
        f.print(o)
        o.w("::")
        self.entity.print(o)

    def base_name(self):
        return self.entity.base_name()


class Builtin(Node):
    def __init__(self, s: str):
        self.s = s

    def left(self, o):
        o.w(self.s)


class Qualified(Node):
    """cv-qualifiers (and vendor qualifiers) on a type: ``int const``."""

    def __init__(self, inner: Node, quals: str):
        self.inner, self.quals = inner, quals

    def _new_quals(self, o: _Out) -> str:
        # T const with T = int const prints "int const" once (c++filt).
        have = _quals_of(self.inner, o)
        return "".join(" " + q for q in self.quals.split() if q not in have)

    def left(self, o):
        self.inner.left(o)
        if not self.inner.is_function():
            o.w(self._new_quals(o))

    def right(self, o):
        self.inner.right(o)
        if self.inner.is_function():
            o.w(self._new_quals(o))

    def has_rhs(self):
        return self.inner.has_rhs()

    def is_array(self):
        return self.inner.is_array()

    def is_function(self):
        return self.inner.is_function()


def _quals_of(n: Node, o: _Out) -> set[str]:
    seen = 0
    while isinstance(n, TemplateParam) and seen < 50:
        n = n._target(o)
        seen += 1
    if isinstance(n, Qualified):
        return set(n.quals.split()) | _quals_of(n.inner, o)
    return set()


class Pointer(Node):
    """P, R, O: pointer, lvalue and rvalue reference."""

    def __init__(self, inner: Node, sym: str):
        self.inner, self.sym = inner, sym

    def _collapsed(self, o: _Out) -> tuple[Node, str]:
        # Reference collapsing through template parameters: T& with
        # T = U&& is U&, T&& with T = U& is U&, T&& with T = U&& is U&&.
        inner, sym = self.inner, self.sym
        if sym == "*":
            return inner, sym
        while True:
            r = inner._target(o) if isinstance(inner, TemplateParam) else inner
            if isinstance(r, Pointer) and r.sym in ("&", "&&"):
                sym = "&" if "&" in (sym, r.sym) else "&&"
                inner = r.inner
                continue
            return inner, sym

    def left(self, o):
        inner, sym = self._collapsed(o)
        inner.left(o)
        if inner.is_array() or inner.is_function():
            # libiberty: no space after '(' or '*' ("int (*(*)())()").
            if o.last() not in ("(", " ", "*"):
                o.w(" ")
            o.w("(")
        o.w(sym)

    def right(self, o):
        inner, _ = self._collapsed(o)
        if inner.is_array() or inner.is_function():
            o.w(")")
        inner.right(o)

    def has_rhs(self):
        return self.inner.has_rhs()


class PtrToMember(Node):
    def __init__(self, cls: Node, member: Node):
        self.cls, self.member = cls, member

    def left(self, o):
        m = self.member
        m.left(o)
        if m.is_array() or m.is_function():
            if o.last() not in ("(", " "):
                o.w(" ")
            o.w("(")
        elif o.last() not in ("", " "):
            o.w(" ")
        self.cls.print(o)
        o.w("::*")

    def right(self, o):
        m = self.member
        if m.is_array() or m.is_function():
            o.w(")")
        m.right(o)

    def has_rhs(self):
        return self.member.has_rhs()


class FunctionType(Node):
    def __init__(self, ret: Node | None, params: list[Node], ref: str = ""):
        self.ret, self.params, self.ref = ret, params, ref

    def left(self, o):
        if self.ret is not None:
            self.ret.left(o)
            if not self.ret.has_rhs():
                o.w(" ")

    def right(self, o):
        o.w("(")
        _print_list(o, self.params)
        o.w(")")
        if self.ret is not None:
            self.ret.right(o)
        o.w(self.ref)

    def has_rhs(self):
        return True

    def is_function(self):
        return True


class ArrayType(Node):
    def __init__(self, inner: Node, dim: str | Node):
        self.inner, self.dim = inner, dim

    def left(self, o):
        self.inner.left(o)

    def right(self, o):
        # GNU prints "int [3]" and "int (*) [3]": always a space before '['
        # unless another dimension precedes.
        if o.last() != "]":
            o.w(" ")
        o.w("[")
        if isinstance(self.dim, Node):
            self.dim.print(o)
        else:
            o.w(self.dim)
        o.w("]")
        self.inner.right(o)

    def has_rhs(self):
        return True

    def is_array(self):
        return True


class VectorType(Node):
    def __init__(self, inner: Node, dim: str | Node):
        self.inner, self.dim = inner, dim

    def left(self, o):
        self.inner.print(o)
        o.w(" __vector(")
        if isinstance(self.dim, str):
            o.w(self.dim)
        else:
            self.dim.print(o)
        o.w(")")


class PackExpansion(Node):
    """Dp <type>: the pattern repeated for each element of the pack it
    names, comma separated."""

    def __init__(self, pattern: Node):
        self.pattern = pattern

    def _pack_len(self) -> int | None:
        n = _find_pack_len(self.pattern, set())
        return n

    def left(self, o):
        n = self._pack_len()
        if n is None:
            self.pattern.print(o)
            o.w("...")
            return
        saved = o.pack_index
        for i in range(n):
            if i:
                o.w(", ")
            o.pack_index = i
            self.pattern.print(o)
        o.pack_index = saved


def _find_pack_len(n, seen: set) -> int | None:
    if id(n) in seen:
        return None
    seen.add(id(n))
    if isinstance(n, TemplateParam):
        r = n.lookup(_ACTIVE[-1] if _ACTIVE else None)
        if isinstance(r, ArgPack):
            return len(r.args)
        return None
    if isinstance(n, PackExpansion):
        return None
    for v in vars(n).values() if hasattr(n, "__dict__") else ():
        items = v if isinstance(v, list) else [v]
        for x in items:
            if isinstance(x, Node):
                k = _find_pack_len(x, seen)
                if k is not None:
                    return k
    return None


class _Unresolvable(Exception):
    """A template parameter outside any template: c++filt gives up."""


class TemplateParam(Node):
    """T_ / Tn_: resolved when printed, against the innermost function
    template being printed; its argument then prints in the scope outside
    that template."""

    def __init__(self, index: int):
        self.index = index

    def lookup(self, o: _Out | None) -> Node | None:
        """The raw argument (maybe an ArgPack) in o's current scope."""
        if o is None or not o.templates:
            return None
        args = o.templates[-1]
        if self.index >= len(args):
            return None
        return args[self.index]

    def _target(self, o: _Out | None = None) -> Node | None:
        if o is None:
            o = _ACTIVE[-1] if _ACTIVE else None
        r = self.lookup(o)
        if isinstance(r, ArgPack) and o is not None and o.pack_index is not None:
            if o.pack_index < len(r.args):
                return r.args[o.pack_index]
        return r

    def resolve(self) -> Node | None:
        return self._target()

    def _with_outer(self, o: _Out, fn) -> None:
        r = self._target(o)
        if r is None:
            raise _Unresolvable()
        saved = o.templates
        o.templates = saved[:-1]
        try:
            fn(r, o)
        finally:
            o.templates = saved

    def left(self, o):
        self._with_outer(o, lambda r, o: r.left(o))

    def right(self, o):
        self._with_outer(o, lambda r, o: r.right(o))

    def _probe(self, attr: str) -> bool:
        o = _ACTIVE[-1] if _ACTIVE else None
        r = self._target(o)
        if r is None or o is None:
            return False
        saved = o.templates
        o.templates = saved[:-1]
        try:
            return getattr(r, attr)()
        finally:
            o.templates = saved

    def has_rhs(self):
        return self._probe("has_rhs")

    def is_array(self):
        return self._probe("is_array")

    def is_function(self):
        return self._probe("is_function")


class Function(Node):
    """An encoding: name, optional return type, parameters, qualifiers."""

    def __init__(self, name: Node, ret: Node | None, params: list[Node],
                 quals: str = "", ref: str = ""):
        self.name, self.ret, self.params = name, ret, params
        self.quals, self.ref = quals, ref

    def template_args(self) -> list[Node] | None:
        n = self.name
        if isinstance(n, _QualifiedName):
            n = n.name
        if isinstance(n, Local):
            n = n.entity
            if isinstance(n, _QualifiedName):
                n = n.name
        return n.args.args if isinstance(n, Template) else None

    def left(self, o):
        targs = self.template_args()
        if targs is not None:
            o.templates.append(targs)
        try:
            self._left(o)
        finally:
            if targs is not None:
                o.templates.pop()

    def _left(self, o):
        if self.ret is not None:
            self.ret.left(o)
            if not self.ret.has_rhs():
                o.w(" ")
        self.name.print(o)
        o.w("(")
        _print_list(o, self.params)
        o.w(")")
        o.w(self.quals)
        o.w(self.ref)
        if self.ret is not None:
            self.ret.right(o)

    def base_name(self):
        return self.name.base_name()


class Special(Node):
    """'vtable for X' and the other special names."""

    def __init__(self, prefix: str, inner: Node, suffix: str = ""):
        self.prefix, self.inner, self.suffix = prefix, inner, suffix

    def left(self, o):
        o.w(self.prefix)
        self.inner.print(o)
        o.w(self.suffix)


class CtorVtable(Node):
    def __init__(self, a: Node, b: Node):
        self.a, self.b = a, b

    def left(self, o):
        o.w("construction vtable for ")
        self.a.print(o)
        o.w("-in-")
        self.b.print(o)


class Cloned(Node):
    def __init__(self, inner: Node, suffix: str):
        self.inner, self.suffix = inner, suffix

    def left(self, o):
        self.inner.print(o)
        o.w(f" [clone {self.suffix}]")


class Unnamed(Node):
    def __init__(self, text: str):
        self.text = text

    def left(self, o):
        o.w(self.text)


class Lambda(Node):
    def __init__(self, params: list[Node], num: int):
        self.params, self.num = params, num

    def left(self, o):
        o.w("{lambda(")
        _print_list(o, self.params)
        o.w(f")#{self.num}}}")


# -- expressions ----------------------------------------------------------


class Literal(Node):
    def __init__(self, ty: Node | None, value: str):
        self.ty, self.value = ty, value

    # Integer literal suffixes c++filt uses; other types print as a cast.
    _SUFFIX = {"int": "", "unsigned int": "u", "long": "l",
               "unsigned long": "ul", "long long": "ll",
               "unsigned long long": "ull"}

    def left(self, o):
        t = str(self.ty) if self.ty is not None else ""
        v = self.value
        neg = v.startswith("n")
        if neg:
            v = "-" + v[1:]
        if t == "bool" and v in ("0", "1"):
            o.w("false" if v == "0" else "true")
        elif t in self._SUFFIX:
            o.w(v + self._SUFFIX[t])
        elif t == "decltype(nullptr)" and v == "":
            o.w("nullptr")
        else:
            o.w(f"({t}){v}")


class ExprName(Node):
    """An expression that is a name (or an external name L_Z..E)."""

    def __init__(self, n: Node):
        self.n = n

    def left(self, o):
        self.n.print(o)


class FuncParam(Node):
    def __init__(self, n: int):
        self.n = n

    def left(self, o):
        o.w(f"{{parm#{self.n}}}")


def _sub(o: _Out, e: Node) -> None:
    """libiberty parenthesises subexpressions that are not plain names."""
    while isinstance(e, ExprName) and isinstance(e.n, ExprName):
        e = e.n
    inner = e.n if isinstance(e, ExprName) else e
    simple = isinstance(inner, (FuncParam, Name, Nested))
    if not simple:
        o.w("(")
    e.print(o)
    if not simple:
        o.w(")")


class Unary(Node):
    def __init__(self, op: str, e: Node):
        self.op, self.e = op, e

    def left(self, o):
        o.w(self.op)
        _sub(o, self.e)


class Binary(Node):
    def __init__(self, op: str, a: Node, b: Node):
        self.op, self.a, self.b = op, a, b

    def left(self, o):
        if self.op == ">":
            o.w("(")
        _sub(o, self.a)
        o.w(self.op)
        _sub(o, self.b)
        if self.op == ">":
            o.w(")")


class Trinary(Node):
    def __init__(self, a, b, c):
        self.a, self.b, self.c = a, b, c

    def left(self, o):
        _sub(o, self.a)
        o.w("?")
        _sub(o, self.b)
        o.w(" : ")
        _sub(o, self.c)


class Call(Node):
    def __init__(self, f: Node, args: list[Node]):
        self.f, self.args = f, args

    def left(self, o):
        _sub(o, self.f)
        o.w("(")
        _print_list(o, self.args)
        o.w(")")


class Cast(Node):
    def __init__(self, ty: Node, args: list[Node], kind: str = ""):
        self.ty, self.args, self.kind = ty, args, kind

    def left(self, o):
        if self.kind:
            o.w(self.kind + "<")
            self.ty.print(o)
            o.w(">(")
            _print_list(o, self.args)
            o.w(")")
            return
        o.w("(")
        self.ty.print(o)
        o.w(")")
        if len(self.args) == 1:
            _sub(o, self.args[0])
        else:
            o.w("(")
            _print_list(o, self.args)
            o.w(")")


class Prefixed(Node):
    """sizeof(x), alignof(x), decltype (x), noexcept(x), throw x..."""

    def __init__(self, word: str, e: Node, close: str = ")"):
        self.word, self.e, self.close = word, e, close

    def left(self, o):
        o.w(self.word)
        self.e.print(o)
        o.w(self.close)


class Member(Node):
    def __init__(self, a: Node, op: str, b: Node):
        self.a, self.op, self.b = a, op, b

    def left(self, o):
        _sub(o, self.a)
        o.w(self.op)
        self.b.print(o)


# ---------------------------------------------------------------------------
# Tables

_BUILTIN = {
    "v": "void", "w": "wchar_t", "b": "bool", "c": "char", "a": "signed char",
    "h": "unsigned char", "s": "short", "t": "unsigned short", "i": "int",
    "j": "unsigned int", "l": "long", "m": "unsigned long",
    "x": "long long", "y": "unsigned long long", "n": "__int128",
    "o": "unsigned __int128", "f": "float", "d": "double",
    "e": "long double", "g": "__float128", "z": "...",
}
_BUILTIN_D = {
    "d": "decimal64", "e": "decimal128", "f": "decimal32", "h": "half",
    "i": "char32_t", "s": "char16_t", "u": "char8_t", "a": "auto",
    "c": "decltype(auto)", "n": "decltype(nullptr)",
}

# Operator encodings: code -> (spelling, arity)
_OPS = {
    "nw": ("new", 1), "na": ("new[]", 1), "dl": ("delete", 1),
    "da": ("delete[]", 1), "ps": ("+", 1), "ng": ("-", 1), "ad": ("&", 1),
    "de": ("*", 1), "co": ("~", 1), "pl": ("+", 2), "mi": ("-", 2),
    "ml": ("*", 2), "dv": ("/", 2), "rm": ("%", 2), "an": ("&", 2),
    "or": ("|", 2), "eo": ("^", 2), "aS": ("=", 2), "pL": ("+=", 2),
    "mI": ("-=", 2), "mL": ("*=", 2), "dV": ("/=", 2), "rM": ("%=", 2),
    "aN": ("&=", 2), "oR": ("|=", 2), "eO": ("^=", 2), "ls": ("<<", 2),
    "rs": (">>", 2), "lS": ("<<=", 2), "rS": (">>=", 2), "eq": ("==", 2),
    "ne": ("!=", 2), "lt": ("<", 2), "gt": (">", 2), "le": ("<=", 2),
    "ge": (">=", 2), "ss": ("<=>", 2), "nt": ("!", 1), "aa": ("&&", 2),
    "oo": ("||", 2), "pp": ("++", 1), "mm": ("--", 1), "cm": (",", 2),
    "pm": ("->*", 2), "pt": ("->", 2), "cl": ("()", 2), "ix": ("[]", 2),
    "qu": ("?", 3), "st": ("sizeof ", 1), "sz": ("sizeof ", 1),
    "at": ("alignof ", 1), "az": ("alignof ", 1), "aw": ("co_await", 1),
}

_STD_SUBS = {
    "t": ("std", "std", None),
    "a": ("std::allocator", "std::allocator", "allocator"),
    "b": ("std::basic_string", "std::basic_string", "basic_string"),
    "s": ("std::string",
          "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
          "basic_string"),
    "i": ("std::istream", "std::basic_istream<char, std::char_traits<char> >",
          "basic_istream"),
    "o": ("std::ostream", "std::basic_ostream<char, std::char_traits<char> >",
          "basic_ostream"),
    "d": ("std::iostream", "std::basic_iostream<char, std::char_traits<char> >",
          "basic_iostream"),
}

# GCC clone suffixes: ".cold", ".part.0", ".constprop.0", ".isra.0"...
_CLONE_RE = re.compile(r"\.[A-Za-z_]+(?:\.[0-9]+)*|\.[0-9]+")


# ---------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, s: str):
        self.s = s
        self.i = 0
        self.subs: list[Node] = []
        self.last_name: Node | None = None
        self.depth = 0

    # -- low level ------------------------------------------------------

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def eat(self, t: str) -> bool:
        if self.s.startswith(t, self.i):
            self.i += len(t)
            return True
        return False

    def expect(self, t: str) -> None:
        if not self.eat(t):
            raise DemangleError(f"expected {t!r} at {self.i}")

    def number(self) -> int:
        neg = self.eat("n")
        j = self.i
        while self.peek().isdigit():
            self.i += 1
        if j == self.i:
            raise DemangleError(f"expected number at {self.i}")
        v = int(self.s[j:self.i])
        return -v if neg else v

    def seq_id(self) -> int:
        """Base-36 (digits, upper case) number before '_', for S<id>_."""
        if self.eat("_"):
            return 0
        j = self.i
        while self.peek().isdigit() or self.peek().isupper():
            self.i += 1
        if j == self.i:
            raise DemangleError("bad seq-id")
        v = int(self.s[j:self.i], 36)
        self.expect("_")
        return v + 1

    def add_sub(self, n: Node) -> None:
        self.subs.append(n)

    # -- top level -----------------------------------------------------

    def mangled_name(self) -> Node:
        if not self.eat("_Z"):
            raise DemangleError("not a mangled name")
        n = self.encoding(top=True)
        # GCC clone suffixes: f.cold, f.constprop.0.isra.0 ...
        while self.peek() == "." and self.i < len(self.s):
            m = _CLONE_RE.match(self.s, self.i)
            if not m:
                break
            n = Cloned(n, m.group(0))
            self.i = m.end()
        if self.i != len(self.s):
            raise DemangleError(f"trailing characters at {self.i}")
        return n

    def encoding(self, top: bool = False) -> Node:
        if self.peek() in ("T", "G"):
            return self.special_name()
        name = self.name(encoding=True)
        if self.peek() in ("", "E", "."):
            return name
        return self.function_rest(name)

    def function_rest(self, name: Node) -> Node:
        # Name qualifiers were parsed into the name; pull them back out.
        quals, ref = "", ""
        inner = name
        if isinstance(inner, _QualifiedName):
            quals, ref, inner = inner.quals, inner.ref, inner.name
        ret = None
        if _has_return_type(inner):
            ret = self.type()
        params = self.bare_params()
        return Function(inner, ret, params, quals, ref)

    def bare_params(self) -> list[Node]:
        params = []
        while self.peek() not in ("", "E", "."):
            params.append(self.type())
        if not params:
            raise DemangleError("missing parameter types")
        if len(params) == 1 and isinstance(params[0], Builtin) and \
                params[0].s == "void":
            return []
        return params

    def special_name(self) -> Node:
        if self.eat("TV"):
            return Special("vtable for ", self.type())
        if self.eat("TT"):
            return Special("VTT for ", self.type())
        if self.eat("TI"):
            return Special("typeinfo for ", self.type())
        if self.eat("TS"):
            return Special("typeinfo name for ", self.type())
        if self.eat("TH"):
            return Special("TLS init function for ", self.name())
        if self.eat("TW"):
            return Special("TLS wrapper function for ", self.name())
        if self.eat("TA"):
            return Special("template parameter object for ", self.template_arg())
        if self.eat("Th"):
            self.call_offset("h")
            return Special("non-virtual thunk to ", self.encoding())
        if self.eat("Tv"):
            self.call_offset("v")
            return Special("virtual thunk to ", self.encoding())
        if self.eat("Tc"):
            self.call_offset(self._advance())
            self.call_offset(self._advance())
            return Special("covariant return thunk to ", self.encoding())
        if self.eat("TC"):
            a = self.type()
            self.number()
            self.expect("_")
            b = self.type()
            return CtorVtable(b, a)
        if self.eat("GV"):
            return Special("guard variable for ", self.name())
        if self.eat("GR"):
            n = self.name()
            idx = 0
            if self.peek() != "":
                idx = self.seq_id()
            return Special(f"reference temporary #{idx} for ", n)
        if self.eat("GA"):
            return Special("hidden alias for ", self.encoding())
        if self.eat("GTt"):
            return Special("transaction clone for ", self.encoding())
        if self.eat("GTn"):
            return Special("non-transaction clone for ", self.encoding())
        raise DemangleError("unknown special name")

    def _advance(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def call_offset(self, kind: str) -> None:
        if kind == "h":
            self.number()
            self.expect("_")
        elif kind == "v":
            self.number()
            self.expect("_")
            self.number()
            self.expect("_")
        else:
            raise DemangleError("bad call offset")

    # -- names --------------------------------------------------------

    def name(self, encoding: bool = False) -> Node:
        c = self.peek()
        if c == "N":
            return self.nested_name(encoding)
        if c == "Z":
            return self.local_name(encoding)
        if c == "S" and self.peek(1) != "t":
            n = self.substitution(prefix=False)
            if self.peek() != "I":
                raise DemangleError("substitution as a name")
            return Template(n, self.template_args(tag=encoding))
        # unscoped name, maybe St, maybe a template
        if self.eat("St"):
            n = Nested(Name("std"), self.unqualified_name())
        else:
            n = self.unqualified_name()
        if self.peek() == "I":
            self.add_sub(n)
            n = Template(n, self.template_args(tag=encoding))
        return n

    def nested_name(self, encoding: bool) -> Node:
        self.expect("N")
        quals = self.cv_quals()
        ref = ""
        if self.eat("R"):
            ref = " &"
        elif self.eat("O"):
            ref = " &&"
        ret: Node | None = None
        while True:
            c = self.peek()
            if c == "E":
                self.i += 1
                break
            if c == "":
                raise DemangleError("unterminated nested name")
            if c == "I":
                if ret is None:
                    raise DemangleError("template args without a name")
                ret = Template(ret, self.template_args(tag=encoding))
            elif c == "S":
                if self.peek(1) == "t":
                    self.i += 2
                    dc = Name("std")
                    ret = dc if ret is None else Nested(ret, dc)
                    continue
                dc = self.substitution(prefix=True)
                ret = dc if ret is None else Nested(ret, dc)
                # A substitution is not itself a new candidate.
                continue
            elif c == "T":
                dc = self.template_param()
                ret = dc if ret is None else Nested(ret, dc)
            elif c == "D" and self.peek(1) in ("t", "T"):
                dc = self.decltype()
                ret = dc if ret is None else Nested(ret, dc)
            elif c == "M":
                # Lambda in a data member initializer: <prefix> <name> M
                self.i += 1
                continue
            else:
                dc = self.unqualified_name(ret)
                ret = dc if ret is None else Nested(ret, dc)
            if self.peek() != "E":
                self.add_sub(ret)
        if quals or ref:
            return _QualifiedName(ret, quals, ref)
        return ret

    def local_name(self, encoding: bool) -> Node:
        self.expect("Z")
        func = self.encoding()
        self.expect("E")
        if self.eat("s"):
            self.discriminator()
            return Local(func, Name("string literal"))
        if self.eat("d"):
            num = 0
            if self.peek() != "_":
                num = self.number() + 1
            self.expect("_")
            ent = self.name(encoding)
            inner = ent.name if isinstance(ent, _QualifiedName) else ent
            res = Local(Local(func, Name(f"{{default arg#{num + 1}}}")), inner)
            if isinstance(ent, _QualifiedName):
                return _QualifiedName(res, ent.quals, ent.ref)
            return res
        ent = self.name(encoding)
        self.discriminator()
        if isinstance(ent, _QualifiedName):
            return _QualifiedName(Local(func, ent.name), ent.quals, ent.ref)
        return Local(func, ent)

    def discriminator(self) -> None:
        if self.peek() == "_":
            if self.peek(1) == "_":
                self.i += 2
                self.number()
                self.expect("_")
            elif self.peek(1).isdigit():
                self.i += 2

    def unqualified_name(self, prefix: Node | None = None) -> Node:
        c = self.peek()
        if c.isdigit():
            n = self.source_name()
        elif c == "C" or (c == "D" and self.peek(1) in "0125"):
            n = self.ctor_dtor()
        elif c == "U":
            n = self.unnamed_type()
        elif c == "L":
            # Internal-linkage marker (GCC): L <source-name> [discriminator]
            self.i += 1
            n = self.source_name()
            self.discriminator()
        elif c == "D" and self.peek(1) == "C":
            # Structured binding: DC <source-name>+ E
            self.i += 2
            names = []
            while not self.eat("E"):
                names.append(_print(self.source_name()))
            n = Name("[" + ", ".join(names) + "]")
        elif c.islower():
            n = self.operator_name()
        else:
            raise DemangleError(f"bad unqualified name at {self.i}")
        while self.peek() == "B":
            self.i += 1
            n = AbiTagged(n, _print(self.source_name(set_last=False)))
        return n

    def source_name(self, set_last: bool = True) -> Node:
        ln = self.number()
        if ln <= 0 or self.i + ln > len(self.s):
            raise DemangleError("bad source name length")
        ident = self.s[self.i:self.i + ln]
        self.i += ln
        if ident.startswith("_GLOBAL_") and len(ident) > 9 and \
                ident[8] in "._$" and ident[9] == "N":
            n = Name("(anonymous namespace)")
        else:
            n = Name(ident)
        if set_last:
            self.last_name = n
        return n

    def ctor_dtor(self) -> Node:
        if self.eat("C"):
            inheriting = self.eat("I")
            if self.peek() not in "12345":
                raise DemangleError("bad ctor")
            self.i += 1
            if inheriting:
                self.type()
            return Ctor(self.last_name, False)
        self.expect("D")
        if self.peek() not in "0125":
            raise DemangleError("bad dtor")
        self.i += 1
        return Ctor(self.last_name, True)

    def unnamed_type(self) -> Node:
        if self.eat("Ut"):
            n = 1
            if self.peek() != "_":
                n = self.number() + 2
            self.expect("_")
            return Unnamed(f"{{unnamed type#{n}}}")
        if self.eat("Ul"):
            # Template parameter declarations of generic lambdas (Ty, Tn..)
            # are not supported.
            if self.peek() == "T" and self.peek(1) in "ytnp":
                raise DemangleError("generic lambda template params")
            params = []
            while self.peek() != "E":
                params.append(self.type())
            self.i += 1
            if len(params) == 1 and isinstance(params[0], Builtin) and \
                    params[0].s == "void":
                params = []
            n = 1
            if self.peek() != "_":
                n = self.number() + 2
            self.expect("_")
            return Lambda(params, n)
        if self.eat("U"):
            # Vendor extended name: U <source-name> [<template-args>]
            return self.source_name()
        raise DemangleError("bad unnamed type")

    def operator_name(self) -> Node:
        code = self.s[self.i:self.i + 2]
        if code == "cv":
            self.i += 2
            return ConversionOp(self.type())
        if code == "li":
            self.i += 2
            return LiteralOp(_print(self.source_name()))
        if code[:1] == "v" and code[1:2].isdigit():
            self.i += 2
            return Name("operator " + _print(self.source_name()))
        if code in _OPS:
            self.i += 2
            return Operator(_OPS[code][0].strip())
        raise DemangleError(f"unknown operator {code!r}")

    # -- substitutions / template params ---------------------------------

    def substitution(self, prefix: bool) -> Node:
        self.expect("S")
        c = self.peek()
        if c == "_" or c.isdigit() or c.isupper():
            k = self.seq_id()
            if k >= len(self.subs):
                raise DemangleError("substitution out of range")
            return self.subs[k]
        if c in _STD_SUBS:
            self.i += 1
            short, full, last = _STD_SUBS[c]
            # c++filt runs with DMGL_VERBOSE: the full spelling always.
            verbose = True
            n = SpecialSub(short, full, last, verbose)
            if last is not None:
                self.last_name = n
            return n
        raise DemangleError("bad substitution")

    def template_param(self) -> Node:
        self.expect("T")
        if self.eat("_"):
            idx = 0
        else:
            idx = self.number() + 1
            self.expect("_")
        return TemplateParam(idx)

    def template_args(self, tag: bool = False) -> TemplateArgs:
        """I <arg>+ E. (tag: the args belong to the encoding's name; kept
        for the grammar's sake, resolution happens when printing.)"""
        self.expect("I")
        # libiberty keeps the last source name across template args, so a
        # following constructor is named after the class, not an argument.
        saved_last = self.last_name
        args = []
        while not self.eat("E"):
            args.append(self.template_arg())
        self.last_name = saved_last
        return TemplateArgs(args)

    def template_arg(self) -> Node:
        c = self.peek()
        if c == "X":
            self.i += 1
            e = self.expression()
            self.expect("E")
            return e
        if c == "L":
            return self.expr_primary()
        if c == "J":
            self.i += 1
            args = []
            while not self.eat("E"):
                args.append(self.template_arg())
            return ArgPack(args)
        return self.type()

    # -- types --------------------------------------------------------

    def cv_quals(self) -> str:
        # Mangled r V K; c++filt prints const volatile restrict.
        r, v, k = self.eat("r"), self.eat("V"), self.eat("K")
        return (" const" if k else "") + (" volatile" if v else "") + \
            (" restrict" if r else "")

    def type(self) -> Node:
        self.depth += 1
        if self.depth > 200:
            raise DemangleError("too deeply nested")
        try:
            return self._type()
        finally:
            self.depth -= 1

    def _type(self) -> Node:
        c = self.peek()
        if c in _BUILTIN:
            self.i += 1
            return Builtin(_BUILTIN[c])
        if c in "rVK":
            quals = self.cv_quals()
            if self.peek() == "F":
                # Qualifiers of a member function type apply to 'this'; the
                # unqualified function type is not a substitution candidate.
                inner = self.function_type()
            else:
                inner = self.type()
            n = Qualified(inner, quals)
            self.add_sub(n)
            return n
        if c == "U":
            # Vendor qualifier: U <source-name> [<template-args>] <type>
            self.i += 1
            q = _print(self.source_name(set_last=False))
            if self.peek() == "I":
                q += _print(self.template_args())
            inner = self.type()
            n = Qualified(inner, " " + q)
            self.add_sub(n)
            return n
        if c == "u":
            self.i += 1
            n = self.source_name()
            self.add_sub(n)
            return n
        if c == "P":
            self.i += 1
            n = Pointer(self.type(), "*")
            self.add_sub(n)
            return n
        if c == "R":
            self.i += 1
            n = Pointer(self.type(), "&")
            self.add_sub(n)
            return n
        if c == "O":
            self.i += 1
            n = Pointer(self.type(), "&&")
            self.add_sub(n)
            return n
        if c == "C":
            self.i += 1
            n = Qualified(self.type(), " _Complex")
            self.add_sub(n)
            return n
        if c == "G":
            self.i += 1
            n = Qualified(self.type(), " _Imaginary")
            self.add_sub(n)
            return n
        if c == "F":
            n = self.function_type()
            self.add_sub(n)
            return n
        if c == "A":
            n = self.array_type()
            self.add_sub(n)
            return n
        if c == "M":
            self.i += 1
            cls = self.type()
            mem = self.type()
            n = PtrToMember(cls, mem)
            self.add_sub(n)
            return n
        if c == "T":
            n = self.template_param()
            self.add_sub(n)
            if self.peek() == "I":
                n = Template(n, self.template_args())
                self.add_sub(n)
            return n
        if c == "D":
            d = self.peek(1)
            if d in _BUILTIN_D:
                self.i += 2
                return Builtin(_BUILTIN_D[d])
            if d == "F":
                # DF <N> _  (_FloatN), DF <N> x (_FloatNx)
                self.i += 2
                bits = self.number()
                if self.eat("x"):
                    return Builtin(f"_Float{bits}x")
                self.expect("_")
                return Builtin(f"_Float{bits}")
            if d == "B" or d == "U":
                # _BitInt(N)
                self.i += 2
                if self.peek().isdigit():
                    bits = str(self.number())
                else:
                    bits = _print(self.expression())
                self.expect("_")
                return Builtin(("unsigned " if d == "U" else "") +
                               f"_BitInt({bits})")
            if d in ("t", "T"):
                n = self.decltype()
                self.add_sub(n)
                return n
            if d == "p":
                self.i += 2
                n = PackExpansion(self.type())
                self.add_sub(n)
                return n
            if d == "v":
                self.i += 2
                if self.peek().isdigit():
                    dim = str(self.number())
                else:
                    self.expect("_")
                    dim = self.expression()
                self.expect("_")
                n = VectorType(self.type(), dim)
                self.add_sub(n)
                return n
            if d in ("o", "O", "w", "x"):
                # exception specifications on function types
                raise DemangleError("exception spec")
            raise DemangleError(f"unknown D type {d!r}")
        if c == "S":
            if self.peek(1) == "t":
                self.i += 2
                n = Nested(Name("std"), self.unqualified_name())
                if self.peek() == "I":
                    self.add_sub(n)
                    n = Template(n, self.template_args())
                self.add_sub(n)
                return n
            n = self.substitution(prefix=False)
            if self.peek() == "I":
                n = Template(n, self.template_args())
                self.add_sub(n)
            return n
        if c == "N" or c == "Z" or c.isdigit():
            n = self.name()
            self.add_sub(n)
            return n
        raise DemangleError(f"unknown type at {self.i}: {c!r}")

    def function_type(self) -> Node:
        self.expect("F")
        self.eat("Y")  # extern "C"
        ret = self.type()
        params = []
        ref = ""
        while True:
            if self.eat("E"):
                break
            if self.peek() == "R" and self.peek(1) == "E":
                self.i += 2
                ref = " &"
                break
            if self.peek() == "O" and self.peek(1) == "E":
                self.i += 2
                ref = " &&"
                break
            if self.peek() == "":
                raise DemangleError("unterminated function type")
            params.append(self.type())
        if len(params) == 1 and isinstance(params[0], Builtin) and \
                params[0].s == "void":
            params = []
        return FunctionType(ret, params, ref)

    def array_type(self) -> Node:
        self.expect("A")
        if self.peek().isdigit():
            dim: str | Node = str(self.number())
        elif self.peek() == "_":
            dim = ""
        else:
            dim = self.expression()
        self.expect("_")
        return ArrayType(self.type(), dim)

    def decltype(self) -> Node:
        self.expect("D")
        if not (self.eat("t") or self.eat("T")):
            raise DemangleError("bad decltype")
        e = self.expression()
        self.expect("E")
        return Prefixed("decltype (", e)

    # -- expressions --------------------------------------------------

    def expr_primary(self) -> Node:
        self.expect("L")
        if self.peek() == "_" and self.peek(1) == "Z":
            self.i += 2
            n = self.encoding()
            self.expect("E")
            return ExprName(n)
        if self.peek() == "Z":
            self.i += 1
            n = self.encoding()
            self.expect("E")
            return ExprName(n)
        ty = self.type()
        j = self.i
        while self.peek() not in ("E", ""):
            self.i += 1
        v = self.s[j:self.i]
        self.expect("E")
        return Literal(ty, v)

    def expression(self) -> Node:
        self.depth += 1
        if self.depth > 200:
            raise DemangleError("too deeply nested")
        try:
            return self._expression()
        finally:
            self.depth -= 1

    def _expression(self) -> Node:
        c = self.peek()
        if c == "L":
            return self.expr_primary()
        if c == "T":
            return self.template_param()
        if self.eat("fp"):
            self.cv_quals()
            n = 1 if self.peek() == "_" else self.number() + 2
            self.expect("_")
            return FuncParam(n)
        if self.eat("fL"):
            self.number()
            self.expect("p")
            self.cv_quals()
            n = 1 if self.peek() == "_" else self.number() + 2
            self.expect("_")
            return FuncParam(n)
        if self.eat("sr"):
            return ExprName(self.unresolved_name())
        if self.peek().isdigit() or self.s.startswith(("on", "dn"), self.i):
            return ExprName(self.base_unresolved_name())
        code = self.s[self.i:self.i + 2]
        if code == "cl":
            self.i += 2
            f = self.expression()
            args = []
            while not self.eat("E"):
                args.append(self.expression())
            return Call(f, args)
        if code == "cv":
            self.i += 2
            ty = self.type()
            if self.eat("_"):
                args = []
                while not self.eat("E"):
                    args.append(self.expression())
            else:
                args = [self.expression()]
            return Cast(ty, args)
        casts = {"sc": "static_cast", "dc": "dynamic_cast",
                 "cc": "const_cast", "rc": "reinterpret_cast"}
        if code in casts:
            self.i += 2
            ty = self.type()
            return Cast(ty, [self.expression()], casts[code])
        if code == "st":
            self.i += 2
            return Prefixed("sizeof (", self.type())
        if code == "at":
            self.i += 2
            return Prefixed("alignof (", self.type())
        if code == "sz":
            self.i += 2
            return Prefixed("sizeof (", self.expression())
        if code == "az":
            self.i += 2
            return Prefixed("alignof (", self.expression())
        if code == "sZ":
            self.i += 2
            e = self.template_param() if self.peek() == "T" else self.expression()
            return Prefixed("sizeof...(", e)
        if code == "nx":
            self.i += 2
            return Prefixed("noexcept (", self.expression())
        if code == "tw":
            self.i += 2
            return Prefixed("throw ", self.expression(), "")
        if code == "tr":
            self.i += 2
            return Name("throw")
        if code == "sp":
            self.i += 2
            return Prefixed("", self.expression(), "...")
        if code in ("dt", "pt"):
            self.i += 2
            a = self.expression()
            b = self.unresolved_name() if self.eat("sr") else \
                self.base_unresolved_name()
            return Member(a, "." if code == "dt" else "->", b)
        if code == "gs":
            self.i += 2
            return Prefixed("::", self.expression(), "")
        if code == "tl":
            self.i += 2
            ty = self.type()
            args = []
            while not self.eat("E"):
                args.append(self.expression())
            return Prefixed(_print(ty) + "{", ArgPack(args), "}")
        if code in ("pp", "mm") and self.peek(2) == "_":
            self.i += 3
            return Unary(_OPS[code][0], self.expression())
        if code in _OPS:
            sym, arity = _OPS[code]
            self.i += 2
            if arity == 1:
                return Unary(sym, self.expression())
            if arity == 2:
                a = self.expression()
                b = self.expression()
                return Binary(sym, a, b)
            a = self.expression()
            b = self.expression()
            return Trinary(a, b, self.expression())
        raise DemangleError(f"unsupported expression at {self.i}")

    def unresolved_name(self) -> Node:
        """After 'sr': [N] <unresolved-type> <qualifier-level>* E <base>,
        or <qualifier-level>+ E <base>, or <unresolved-type> <base>."""
        if self.eat("N"):
            n = self.unresolved_type()
            while not self.eat("E"):
                n = Nested(n, self.simple_id())
        elif self.peek().isdigit():
            n = self.simple_id()
            while not self.eat("E"):
                n = Nested(n, self.simple_id())
        else:
            # libiberty reads a whole type here (St..., a substitution with
            # template args, T_, decltype).
            n = self.type()
        # Template args on the base apply to the whole qualified name
        # (libiberty's tree, which decides the parentheses c++filt prints).
        base = self.base_unresolved_name(template=False)
        n = Nested(n, base)
        if self.peek() == "I":
            n = Template(n, self.template_args())
        return n

    def unresolved_type(self) -> Node:
        c = self.peek()
        if c == "T":
            n = self.template_param()
            self.add_sub(n)
            if self.peek() == "I":
                n = Template(n, self.template_args())
            return n
        if c == "D":
            n = self.decltype()
            self.add_sub(n)
            return n
        if c == "S":
            return self.substitution(prefix=True)
        raise DemangleError("bad unresolved type")

    def base_unresolved_name(self, template: bool = True) -> Node:
        if self.eat("on"):
            n = self.operator_name()
        elif self.eat("dn"):
            if self.peek().isdigit():
                return Prefixed("~", self.simple_id(), "")
            return Prefixed("~", self.unresolved_type(), "")
        else:
            n = self.source_name()
        if template and self.peek() == "I":
            n = Template(n, self.template_args())
        return n

    def simple_id(self) -> Node:
        n = self.source_name()
        if self.peek() == "I":
            n = Template(n, self.template_args())
        return n


class _QualifiedName(Node):
    """A nested name carrying the member-function qualifiers (NK...E)."""

    def __init__(self, name: Node, quals: str, ref: str):
        self.name, self.quals, self.ref = name, quals, ref

    def left(self, o):
        self.name.print(o)
        o.w(self.quals + self.ref)

    def base_name(self):
        return self.name.base_name()


def _has_return_type(name: Node) -> bool:
    """Template functions encode their return type, except ctors, dtors
    and conversion operators."""
    n = name
    if isinstance(n, Local):
        n = n.entity
    if isinstance(n, _QualifiedName):
        n = n.name
    if not isinstance(n, Template):
        return False
    inner = n.name
    while isinstance(inner, (Nested, AbiTagged)):
        inner = inner.name if isinstance(inner, Nested) else inner.base
    return not isinstance(inner, (Ctor, ConversionOp))


# ---------------------------------------------------------------------------
# Public API


def demangle(name: str) -> str:
    """c++filt's rendering of name; name itself if it is not mangled (or
    cannot be demangled). A trailing '@VERSION' is kept as is."""
    base, at, ver = name.partition("@")
    if not base.startswith("_Z"):
        return name
    try:
        out = demangle_strict(base)
    except (DemangleError, RecursionError, IndexError, ValueError,
            _Unresolvable):
        return name
    return out + at + ver


def demangle_strict(name: str) -> str:
    """Like :func:`demangle` but raises DemangleError on failure."""
    p = _Parser(name)
    node = p.mangled_name()
    try:
        return _print(node)
    except _Unresolvable:
        raise DemangleError("template parameter outside a template") from None


def strip_params(demangled: str) -> str:
    """'ns::K::m' from 'ns::K::m(int) const' (also drops a clone suffix and
    the return type of template functions), for matching user names."""
    s = demangled
    # Drop " [clone .x]" suffixes.
    while s.endswith("]") and " [clone " in s:
        s = s[:s.rindex(" [clone ")]
    if not s.endswith(")") and not s.endswith("const") and \
            not s.endswith("&") and not s.endswith("volatile"):
        return s
    # Find the '(' matching the final parameter list.
    depth = 0
    end = len(s)
    k = s.rfind(")")
    for i in range(k, -1, -1):
        ch = s[i]
        if ch in ")>]":
            depth += 1
        elif ch in "(<[":
            depth -= 1
            if depth == 0 and ch == "(":
                end = i
                break
    head = s[:end]
    # Drop a leading return type: the last top-level space outside <> and ().
    depth = 0
    cut = 0
    for i, ch in enumerate(head):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == " " and depth == 0:
            # "operator new", "operator delete[]" keep their space.
            if head[max(0, i - 8):i].endswith("operator"):
                continue
            cut = i + 1
    return head[cut:]


def matches_qualified_name(mangled: str, user: str) -> bool:
    """True if mangled demangles to user's name, with parameters
    ('ns::K::m(int)') or without ('ns::K::m'); user may use '*' and '?'
    globs."""
    d = demangle(mangled)
    if d == mangled and not mangled.startswith("_Z"):
        return False
    if any(c in user for c in "*?"):
        import fnmatch
        return fnmatch.fnmatchcase(d, user) or \
            fnmatch.fnmatchcase(strip_params(d), user)
    return d == user or strip_params(d) == user


def find_mangled(names: Iterable[str], user: str) -> list[str]:
    """The mangled names among names that match user's C++ name (see
    :func:`matches_qualified_name`), in input order, without duplicates."""
    out, seen = [], set()
    for n in names:
        if n in seen or not n.startswith("_Z"):
            continue
        if matches_qualified_name(n, user):
            out.append(n)
            seen.add(n)
    return out
