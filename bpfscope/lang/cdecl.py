"""The C a script's preamble may hold: struct, union and enum definitions,
typedefs and simple ``#define NAME value`` lines.

bpftrace hands these to clang; bpfscope reads the subset scripts use to
describe data (members with pointers, arrays, bitfields, nested and
anonymous structs) and keeps ``#include`` lines as no-ops, since kernel
types come from BTF. Sizes and offsets are computed later (sema.typelib);
this module only turns text into declarations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import SyntaxErr
from .nesting import MAX_DEPTH

_TOKEN = re.compile(r"\s*(?:(//[^\n]*|/\*.*?\*/)|([A-Za-z_]\w*)|(0[xX][0-9a-fA-F]+|\d+)[uUlL]*"
                    r"|(\"(?:[^\"\\]|\\.)*\")|(.))", re.S)


@dataclass
class CMember:
    """One declarator: ``base`` is the type written before it (a name such
    as 'unsigned int' / 'struct foo', or a nested CStruct), ``pointers``
    the number of '*', ``dims`` the array sizes, ``bits`` a bitfield
    width (None: not a bitfield)."""
    name: str
    base: object
    pointers: int = 0
    dims: list[int] = field(default_factory=list)
    bits: int | None = None
    aligned: int = 0             # __attribute__((aligned(N))): at least N
    packed: bool = False         # __attribute__((packed)): alignment 1


@dataclass
class CStruct:
    kind: str                    # 'struct' or 'union'
    name: str                    # '' when anonymous
    members: list[CMember] = field(default_factory=list)
    packed: bool = False         # __attribute__((packed)): no padding
    aligned: int = 0             # __attribute__((aligned(N))): at least N


@dataclass
class CEnum:
    name: str
    values: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class CTypedef:
    name: str
    member: CMember              # the aliased type, as a declarator


@dataclass
class CDefine:
    name: str
    value: int | str


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group(1) is None and m.group(0).strip():
            out.append(m.group(0).strip())
    return out


class _Parser:
    def __init__(self, text: str, span):
        self.toks = _tokens(text)
        self.i = 0
        self.span = span
        self.depth = 0  # structs open around the current token

    def error(self, msg: str):
        return SyntaxErr(f"{msg} in C definition", self.span)

    @property
    def tok(self) -> str:
        return self.toks[self.i] if self.i < len(self.toks) else ""

    def take(self, want: str | None = None) -> str:
        t = self.tok
        if want is not None and t != want:
            raise self.error(f"expected '{want}', found '{t or 'end'}'")
        if not t:
            raise self.error("unexpected end")
        self.i += 1
        return t

    def number(self) -> int:
        neg = self.tok == "-"
        if neg:
            self.take()
        t = self.take()
        try:
            v = int(re.sub(r"[uUlL]+$", "", t), 0)
        except ValueError:
            raise self.error(f"expected a number, found '{t}'") from None
        return -v if neg else v

    def definitions(self) -> list:
        out = []
        while self.tok:
            if self.tok == ";":
                self.take()
                continue
            if self.tok == "typedef":
                self.take()
                m = self.declaration()[0]
                out.append(CTypedef(m.name, m))
            elif self.tok == "enum":
                out.append(self.enum())
            elif self.tok in ("struct", "union"):
                st = self.struct()
                if isinstance(st, CStruct):
                    out.append(st)
            else:
                raise self.error(f"unexpected '{self.tok}'")
        return out

    def struct(self) -> CStruct | str:
        kind = self.take()
        packed, aligned = self.attributes()
        name = self.take() if self.tok not in ("{", "") else ""
        p2, a2 = self.attributes()
        st = CStruct(kind, name, packed=packed or p2, aligned=max(aligned, a2))
        if self.tok != "{":
            return f"{kind} {name}"         # a reference, not a definition
        self.take("{")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"structs nest too deeply (more than {MAX_DEPTH} levels)")
        while self.tok != "}":
            st.members.extend(self.declaration())
        self.take("}")
        packed, aligned = self.attributes()
        st.packed = packed or st.packed
        st.aligned = max(st.aligned, aligned)
        self.depth -= 1
        return st

    def attributes(self) -> tuple[bool, int]:
        """Read `__attribute__((...))` groups: whether one says packed, and
        the largest aligned(N) (bare `aligned`: 16, x86-64's largest);
        the other attributes change no layout and are skipped."""
        packed, aligned = False, 0
        while self.tok in ("__attribute__", "__attribute"):
            self.take()
            depth = 0
            while True:
                t = self.take()
                depth += {"(": 1, ")": -1}.get(t, 0)
                packed = packed or t in ("packed", "__packed__")
                if t in ("aligned", "__aligned__"):
                    if self.tok == "(":
                        self.take()
                        aligned = max(aligned, self.number())
                        self.take(")")
                    else:
                        aligned = max(aligned, 16)
                if depth == 0:
                    break
        return packed, aligned

    def enum(self) -> CEnum:
        self.take("enum")
        en = CEnum(self.take() if self.tok != "{" else "")
        self.take("{")
        nxt = 0
        while self.tok != "}":
            name = self.take()
            if self.tok == "=":
                self.take()
                nxt = self.number()
            en.values.append((name, nxt))
            nxt += 1
            if self.tok == ",":
                self.take()
        self.take("}")
        return en

    def base_type(self):
        if self.tok in ("struct", "union"):
            return self.struct()
        if self.tok == "enum":
            self.take()
            if self.tok == "{":
                self.i -= 1
                self.enum()
                return "int"
            return "enum " + self.take()
        words = []
        while self.tok and re.fullmatch(r"[A-Za-z_]\w*", self.tok):
            w = self.take()
            if w not in ("const", "volatile", "static", "restrict", "__user"):
                words.append(w)
            # a declarator name follows a complete type: stop before it
            if words and self.tok and re.fullmatch(r"[A-Za-z_]\w*", self.tok) and \
                    not _continues_type(words, self.tok):
                break
        if not words:
            raise self.error(f"expected a type, found '{self.tok or 'end'}'")
        return " ".join(words)

    def declaration(self) -> list[CMember]:
        """``type declarator[, declarator]... ;``"""
        base = self.base_type()
        out = []
        if self.tok == ";":               # an anonymous struct/union member
            self.take()
            return [CMember("", base)]
        while True:
            out.append(self.declarator(base))
            if self.tok != ",":
                break
            self.take()
        if self.tok == "}" and self.depth:
            return out  # the last member's ';' left out, as C compilers allow
        self.take(";")
        return out

    def declarator(self, base) -> CMember:
        ptrs = 0
        while self.tok in ("*", "const", "volatile"):
            ptrs += self.take() == "*"
        if ptrs > MAX_DEPTH:
            raise self.error(f"more than {MAX_DEPTH} levels of pointers")
        if self.tok == "(":              # a function pointer: int (*fn)(...)
            self.take()
            while self.tok == "*":
                self.take()
                ptrs = 1
            name = self.take()
            self.take(")")
            depth = 0
            while True:
                t = self.take()
                depth += (t == "(") - (t == ")")
                if depth == 0:
                    break
            return CMember(name, "void", max(ptrs, 1))
        packed, aligned = self.attributes()   # int __attribute__((aligned(8))) x;
        name = self.take()
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise self.error(f"expected a member name, found '{name}'")
        m = CMember(name, base, ptrs)
        while self.tok == "[":
            self.take()
            m.dims.append(self.number())
            self.take("]")
        if self.tok == ":":
            self.take()
            m.bits = self.number()
        p2, a2 = self.attributes()            # int x __attribute__((packed));
        m.packed, m.aligned = packed or p2, max(aligned, a2)
        return m


_MULTIWORD = {"unsigned", "signed", "short", "long", "int", "char"}


def _continues_type(words: list[str], nxt: str) -> bool:
    """'unsigned' 'long' 'int' go together; 'u32' 'x' do not."""
    return words[-1] in _MULTIWORD and (nxt in _MULTIWORD or nxt == "double")


def parse_definitions(text: str, span=None) -> list:
    """CStruct / CEnum / CTypedef / CDefine for one preamble item, or []
    for lines that need nothing (#include, other preprocessor lines)."""
    s = text.strip()
    if s.startswith("#"):
        m = re.fullmatch(r"#\s*define\s+([A-Za-z_]\w*)\s+(.+?)\s*", s, re.S)
        if m is None:
            return []
        value = m.group(2)
        num = re.fullmatch(r"(-?(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*", value)
        if num:
            return [CDefine(m.group(1), int(num.group(1), 0))]
        if re.fullmatch(r"\"(?:[^\"\\]|\\.)*\"", value):
            raw = value[1:-1].encode().decode("unicode_escape")
            return [CDefine(m.group(1), raw)]
        return []
    return _Parser(s, span).definitions()
