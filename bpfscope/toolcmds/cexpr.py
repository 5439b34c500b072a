"""The C of bcc's trace and argdist specifiers, rewritten as bpftrace.

bcc's probes take C: a signature (``struct file *file, size_t count``),
types (``u32``, ``char*``) and expressions (``arg1 > 20000``,
``ts->tv_nsec``, ``(char*)$retval``, ``STRCMP("bash", arg1)``). This
module turns those pieces into bpftrace text:

- :func:`btype`: a C type -> bpftrace's (``unsigned long`` -> ``uint64``,
  ``char *`` -> ``int8 *``, ``struct file *`` as it is);
- :func:`signature`: the parameters, each read from its ``argN``;
- :func:`rewrite`: an expression, token by token: bcc's 1-based
  ``arg1..arg9`` become bpftrace's ``arg0..``, parameter names become
  ``$name`` variables, ``arg2@user`` (a user pointer) ``uptr(arg1)``,
  bcc's ``$pid``/``$tgid``/``$uid``/... become
  bpftrace's builtins, casts to C types are re-spelt, ``STRCMP("s", e)``
  becomes ``str(e) == "s"``; the caller maps its own ``$words`` (argdist's
  ``$latency``, ``$entry(p)``).

Errors are :class:`SpecError`: the message, the specifier and where in it
(:meth:`SpecError.text` draws bpftrace's ``~~~`` under the place).
"""

from __future__ import annotations

import os
import re
from typing import Callable

from ..attach.tracepoint import EVENTS_DIR
from .common import ToolError


class SpecError(ToolError):
    """A bad specifier: ``message`` about ``spec[start:end]``."""

    def __init__(self, message: str, spec: str, start: int = 0, end: int | None = None):
        self.message, self.spec = message, spec
        self.start = max(0, min(start, len(spec)))
        self.end = max(self.start + 1, min(len(spec), end if end is not None else len(spec)))
        super().__init__(self.text())

    def text(self) -> str:
        mark = " " * self.start + "~" * (self.end - self.start)
        return f"error in probe '{self.spec}': {self.message}\n    {self.spec}\n    {mark}"


_TOKEN = re.compile(r"""
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<chr>'(?:[^'\\]|\\.)+')
  | (?P<var>\$[A-Za-z_]\w*)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<num>0[xX][0-9a-fA-F]+|\d+)[uUlL]*
  | (?P<ws>\s+)
  | (?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!~<>=?:.,()\[\]@])
""", re.X)


def tokens(text: str, spec: str, base: int) -> list[tuple[str, str, int]]:
    """(kind, text, offset in spec) of each token of ``text``, which
    starts at ``base`` in ``spec``; white space is dropped."""
    out = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            what = "unterminated string" if text[i] in "\"'" else f"unexpected '{text[i]}'"
            raise SpecError(what, spec, base + i, base + i + 1)
        kind = m.lastgroup
        if kind != "ws":
            tok = m.group(kind) if kind != "num" else m.group(0).rstrip("uUlL")
            out.append((kind, tok, base + i))
        i = m.end()
    return out


_INTS = {
    "int8": ("char", "signed char", "s8", "__s8", "int8_t", "int8"),
    "uint8": ("unsigned char", "u8", "__u8", "uint8_t", "bool", "_Bool", "uint8"),
    "int16": ("short", "short int", "signed short", "signed short int", "s16", "__s16",
              "int16_t", "int16"),
    "uint16": ("unsigned short", "unsigned short int", "u16", "__u16", "uint16_t", "uint16",
               "umode_t"),
    "int32": ("int", "signed", "signed int", "s32", "__s32", "int32_t", "pid_t", "int32"),
    "uint32": ("unsigned", "unsigned int", "u32", "__u32", "uint32_t", "uid_t", "gid_t",
               "gfp_t", "mode_t", "dev_t", "uint32"),
    "int64": ("long", "long int", "signed long", "long long", "long long int",
              "signed long long", "s64", "__s64", "int64_t", "ssize_t", "off_t", "loff_t",
              "time_t", "int64", "intptr_t", "ptrdiff_t"),
    "uint64": ("unsigned long", "unsigned long int", "unsigned long long",
               "unsigned long long int", "u64", "__u64", "uint64_t", "size_t", "uintptr_t",
               "uint64", "sector_t"),
}
INT_TYPES = {c: b for b, names in _INTS.items() for c in names}
_QUALIFIERS = {"const", "volatile", "restrict", "__user", "__restrict"}
TYPE_WORDS = {w for c in INT_TYPES for w in c.split()} | _QUALIFIERS | \
    {"struct", "union", "enum", "void"}


def btype(text: str) -> str | None:
    """bpftrace's spelling of C type ``text`` (None: not a type we know)."""
    stars = text.count("*")
    words = [w for w in text.replace("*", " ").split() if w not in _QUALIFIERS]
    if not words:
        return None
    base = " ".join(words)
    if words[0] in ("struct", "union") and len(words) == 2 and words[1].isidentifier():
        out = base
    elif words[0] == "enum" and len(words) == 2:
        out = "int32"
    elif base == "void" and stars:
        return "uint64"          # a void * is an address
    elif base in INT_TYPES:
        out = INT_TYPES[base]
    else:
        return None
    return out + (" " + "*" * stars if stars else "")


def is_string(ctype: str) -> bool:
    """``char *`` (bcc's string type in argdist)."""
    return ctype.replace(" ", "").replace("const", "") in ("char*", "unsignedchar*")


def signature(text: str, spec: str, base: int) -> list[tuple[str, str]]:
    """The parameters of a signature (the text between the parens, at
    ``base`` in ``spec``): (name, bpftrace type) each, in order."""
    out = []
    pos = base
    for param in text.split(","):
        start = pos + len(param) - len(param.lstrip())
        pos += len(param) + 1
        param = param.strip()
        if not param:
            if text.strip():
                raise SpecError("empty parameter in the signature", spec, start, start + 1)
            continue
        cut = param.rfind("*")
        cut = cut if cut != -1 else param.rfind(" ")
        ctype, name = param[:cut + 1].strip(), param[cut + 1:].strip()
        if not ctype or not name.isidentifier():
            raise SpecError(f"parameter '{param}' needs a type and a name", spec,
                            start, start + len(param))
        bt = btype(ctype)
        if bt is None:
            raise SpecError(f"unknown type '{ctype}'", spec, start, start + len(ctype))
        out.append((name, bt))
    if len(out) > 6:
        raise SpecError("at most 6 parameters can be read", spec, base, base + len(text))
    return out


MAX_NEEDLE = 64   # bytes a binary STRCMP compares: one read of the memory each


def needle(lit: str, spec: str, at: int) -> bytes:
    """The bytes a binary STRCMP (trace -B) compares: bcc then takes the
    literal's text as a C array initializer, so ``"{0x7f, 'E', 0}"`` is
    three bytes; any other text is its bytes after C escapes (``\\0``,
    ``\\x41``), NULs included."""
    body = lit[1:-1]
    if body.strip().startswith("{"):
        if not body.strip().endswith("}"):
            raise SpecError("a byte list is {b0, b1, ...}", spec, at, at + len(lit))
        items = [x.strip() for x in body.strip()[1:-1].split(",") if x.strip()]
        out = []
        for x in items:
            m = re.fullmatch(r"'(\\?.)'", x)
            try:
                v = ord(m.group(1).encode().decode("unicode_escape")) if m else int(x, 0)
            except ValueError:
                v = -1
            if not 0 <= v <= 255:
                raise SpecError(f"'{x}' is not a byte", spec, at, at + len(lit))
            out.append(v)
        data = bytes(out)
    else:
        data = body.encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
            "latin-1", "replace")
    if not data or len(data) > MAX_NEEDLE:
        raise SpecError(f"a binary STRCMP compares 1 to {MAX_NEEDLE} bytes", spec, at,
                        at + len(lit))
    return data


BUILTINS = {"$pid": "tid", "$tgid": "pid", "$uid": "uid", "$gid": "gid", "$cpu": "cpu",
            "$task": "curtask", "$retval": "retval", "$PID": "(((uint64)pid << 32) | tid)"}


def closing(toks: list, i: int) -> int:
    """The index of the ')' matching the '(' at ``toks[i]`` (-1: none)."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][1] == "(":
            depth += 1
        elif toks[j][1] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _cast(toks: list, i: int) -> tuple[str, int] | None:
    """A cast to a C type at ``toks[i]`` ('('): (bpftrace type, index of
    its ')'), or None when the parens hold something else."""
    j = closing(toks, i)
    inner = toks[i + 1:j] if j > 0 else []
    if not inner or inner[0][0] != "id" or any(t[0] not in ("id", "op") or
                                               (t[0] == "op" and t[1] != "*") for t in inner):
        return None
    if inner[0][1] not in TYPE_WORDS:
        return None
    bt = btype(" ".join(t[1] for t in inner))
    return (bt, j) if bt else None


def rewrite(text: str, spec: str, base: int, params=(), dollars: Callable | None = None,
            strlen: int = 80, retval: str = "retval", gone=(), bin_cmp: bool = False) -> str:
    """bcc expression ``text`` (at ``base`` in ``spec``) in bpftrace.
    ``params``: the signature's names; ``dollars(word, toks, i)`` may
    rewrite a ``$word`` at ``toks[i]`` the caller knows, returning (text,
    index of the last token used) or None; ``retval`` (and ``$retval``)
    become ``retval`` (:func:`kernel_retval` of the function, say);
    ``gone``: parameters that cannot be read here (at a return);
    ``bin_cmp`` (trace's -B): STRCMP compares the literal's bytes, NULs
    and all (see :func:`needle`)."""
    toks = tokens(text, spec, base)
    out: list[str] = []
    i = 0
    while i < len(toks):
        kind, tok, at = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "id" and re.fullmatch(r"arg[1-9]", tok):
            if nxt == "@" and i + 2 < len(toks) and toks[i + 2][1] == "user":
                out.append(f"uptr(arg{int(tok[3]) - 1})")     # bcc's arg2@user
                i += 2
            else:
                out.append(f"arg{int(tok[3]) - 1}")
        elif kind == "id" and tok == "arg0":
            raise SpecError("arguments are numbered from arg1", spec, at, at + 4)
        elif kind == "id" and tok in params and tok in gone:
            raise SpecError(f"parameter '{tok}' is gone at the return: use $entry({tok})",
                            spec, at, at + len(tok))
        elif kind == "id" and tok in params:
            out.append("$" + tok)
        elif kind == "id" and tok == "retval":
            out.append(retval)
        elif kind == "id" and tok == "STRCMP" and nxt == "(":
            j = closing(toks, i + 1)
            args = _split(toks[i + 2:j]) if j > 0 else []
            if len(args) != 2 or len(args[0]) != 1 or args[0][0][0] != "str":
                raise SpecError('STRCMP takes a string literal and an expression: '
                                'STRCMP("text", expr)', spec, at, toks[j][2] + 1 if j > 0 else None)
            lit = args[0][0][1]
            sub_start = args[1][0][2]
            sub_end = args[1][-1][2] + len(args[1][-1][1])
            inner = rewrite(text[sub_start - base:sub_end - base], spec, sub_start, params,
                            dollars, strlen, retval, gone, bin_cmp)
            if bin_cmp:
                data = needle(lit, spec, args[0][0][2])
                out.append("(" + " && ".join(
                    f"*(uint8 *)(({inner}) + {k}) == {b}" for k, b in enumerate(data)) + ")")
            else:
                out.append(f"(str({inner}, {len(lit)}) == {lit})")
            i = j
        elif kind == "var":
            done = dollars(tok, toks, i) if dollars else None
            if done is not None:
                out.append(done[0])
                i = done[1]
            elif tok == "$retval":
                out.append(retval)
            elif tok in BUILTINS:
                out.append(BUILTINS[tok])
            else:
                raise SpecError(f"unknown variable '{tok}'", spec, at, at + len(tok))
        elif tok == "(" and (cast := _cast(toks, i)) is not None:
            out.append(f"({cast[0]})")
            i = cast[1]
        else:
            out.append(tok)
        i += 1
    return _join(out)


def _split(toks: list) -> list[list]:
    """Tokens split at the commas outside parens."""
    parts: list[list] = [[]]
    depth = 0
    for t in toks:
        if t[1] in "([":
            depth += 1
        elif t[1] in ")]":
            depth -= 1
        if t[1] == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def _join(words: list[str]) -> str:
    """Tokens joined by spaces, but where C writes none (``a->b``,
    ``f(x, y)``), so that ``a - -b`` stays two minus signs."""
    out = ""
    prev = ""
    for w in words:
        tight = (w in (")", ",", "->", ".", "]", "[") or prev in ("(", "->", ".", "[", "")
                 or (w == "(" and (prev[-1:].isalnum() or prev[-1:] == "_")))
        out += w if tight else " " + w
        prev = w
    return out


def string_end(text: str, i: int) -> int:
    """The index of the quote closing the string (or char) opened at
    ``text[i]``, escapes skipped (-1: it is not closed)."""
    end = text.find(text[i], i + 1)
    while end > 0 and text[end - 1] == "\\":
        end = text.find(text[i], end + 1)
    return end


def split_top(text: str, base: int = 0, sep: str = ",") -> list[tuple[str, int]]:
    """``text`` split at each ``sep`` outside parens, brackets and
    strings: (piece, its offset + ``base``) each."""
    out = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            end = string_end(text, i)
            i = end if end > 0 else len(text)
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == sep and depth == 0:
            out.append((text[start:i], base + start))
            start = i + 1
        i += 1
    out.append((text[start:], base + start))
    return out


def kernel_retval(func: str) -> str:
    """``retval`` of kernel function ``func`` at its return, as wide as
    its BTF return type says: a kretprobe's retval is the whole register,
    so an ``int`` returning -2 (do_sys_openat2 in 7.x) would read as
    4294967294 and fail bcc's ``retval < 0``. Without BTF: ``retval``."""
    from ..attach import kfuncs
    try:
        kb = kfuncs.btf_of("vmlinux")
        fid = kb.find(func, "func")
        if fid is None:
            return "retval"
        ret = kfuncs.signature(kb, fid).ret
        field = kfuncs.arg_field(kb, "$retval", ret, 0)[0] if ret else None
    except Exception:  # noqa: BLE001 - no BTF here: the register as it is
        return "retval"
    if field is None or field.kind not in ("int", "bool") or field.size >= 8:
        return "retval"
    return f"(({'' if field.signed else 'u'}int{8 * field.size})retval)"


def tracepoint_exists(category: str, event: str) -> bool:
    return os.path.isdir(os.path.join(EVENTS_DIR, category, event))


PROBE_MARK = "// probe: "    # the comment before a specifier's probes in a tool's script


def mark(raw: str) -> str:
    """The comment line naming specifier ``raw`` in a tool's script."""
    return PROBE_MARK + " ".join(raw.splitlines()) + "\n"


def check_script(text: str, name: str, raws: list[str], pid: int | None = None) -> None:
    """Compile a tool's script (each specifier's probes after a
    ``PROBE_MARK`` comment naming it): an error the compiler finds in a
    specifier's probes is told as that specifier's, under the place in it
    (the identifier the compiler did not know), not at the script's line."""
    from .. import api
    from ..errors import BpfscopeError
    try:
        api.compile_script(text, name, pid=pid)
    except BpfscopeError as e:
        located = _in_spec(e, text, raws)
        if located is None:
            raise
        raise located from None


def _in_spec(e, text: str, raws: list[str]) -> SpecError | None:
    if e.span is None or e.span.file is not None:
        return None
    lines = text.splitlines()
    named = {mark(r).rstrip("\n"): r for r in raws}
    which = None
    for line in lines[:e.span.line]:
        if line.startswith(PROBE_MARK):
            which = named.get(line)
        elif line.startswith("interval:"):
            which = None
    if which is None:
        return None
    line = lines[e.span.line - 1]
    bad = line[e.span.col - 1:e.span.end_col - 1] if e.span.end_line == e.span.line else ""
    head = len(re.match(r"[^\s(]*", which).group(0))
    for word in (bad, bad.lstrip("$")):
        at = which.find(word, head) if word else -1
        if word and at >= 0:
            return SpecError(e.message, which, at, at + len(word))
    return SpecError(e.message, which)
