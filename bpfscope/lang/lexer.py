"""Tokenizer for the bpftrace language.

``tokenize(source)`` returns the whole token list, ending with an ``eof``
token. Lexical errors do not raise here: they become ``error`` tokens that the
parser raises when it reaches them, so that a syntax error earlier in the
script is reported first, as bpftrace (whose lexer runs on demand) does.

The lexer is context sensitive in two places, like bpftrace's:

* At the top level (outside any bracket, after the start of the script or
  after a ``}``, ``;`` or ``,``) a word that is not a top-level keyword starts
  an *attach point*, which is read raw up to the whitespace, ``,``, ``{`` or
  ``/`` that ends it. ``struct``/``union``/``enum`` definitions there are read
  raw into one ``cdef`` token.
* At the top level a ``/`` followed by optional whitespace or comments and
  ``{`` is the ``endpred`` token that closes a predicate, so ``/ $x / 2 > 1 /`` parses.
"""

from __future__ import annotations

import re

from ..errors import Span
from . import ast

# Token kinds. Operators and keywords use their own text as kind.
INT, STR, IDENT, VAR, PARAM, PARAMCOUNT, MAP = (
    "int", "str", "ident", "var", "param", "paramcount", "map")
CPP, CDEF, ATTACH, ENDPRED, EOF, ERROR = (
    "cpp", "cdef", "attach", "endpred", "eof", "error")

KEYWORDS = frozenset((
    "if", "else", "unroll", "while", "for", "return", "break", "continue",
    "let", "sizeof", "offsetof", "config", "import", "macro", "fn",
    "struct", "union", "enum",
))

# Words that begin a top-level item other than a probe.
TOPLEVEL_WORDS = frozenset(("config", "import", "let", "macro", "fn",
                            "struct", "union", "enum"))

# Longest first, so that maximal munch picks '<<=' over '<<' over '<'.
OPERATORS = sorted((
    "<<=", ">>=", "==", "!=", "<=", ">=", "<<", ">>", "&&", "||", "++", "--",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "->", "..",
    "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "=", "?",
    ":", ";", ",", ".", "(", ")", "[", "]", "{", "}",
), key=len, reverse=True)
_OPERATOR_RE = re.compile("|".join(re.escape(op) for op in OPERATORS))
_BLANKS_RE = re.compile(r"(?:[ \t\r]+|//[^\n]*)+")

_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")

_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGITS = frozenset("0123456789")
_IDENT_CHARS = _IDENT_START | _DIGITS
# Characters an attach point may contain besides quoted parts and braces.
_ATTACH_CHARS = _IDENT_CHARS | frozenset("-.*?+:/[]$@~")
# "$": a probe given whole by a positional parameter (`$1 { }`)
_ATTACH_START = _IDENT_START | frozenset("*?$")
_BRACE_GROUP_CHARS = _IDENT_CHARS | frozenset(",*?.-")

DURATION_UNITS = {
    "ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
    "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000,
}
_C_SUFFIXES = ("ull", "llu", "ul", "lu", "ll", "u", "l")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"',
                   "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_HEX = frozenset("0123456789abcdefABCDEF")
# the characters of a string literal up to its end or next escape
_STRING_RUN_RE = re.compile(r'[^"\\\n]*')
_OCT = frozenset("01234567")

MAX_U64 = (1 << 64) - 1


class Token:
    """One token: ``kind``, source ``text``, decoded ``value``, ``span``."""

    __slots__ = ("kind", "text", "value", "span")

    def __init__(self, kind: str, text: str, value, span: Span):
        self.kind = kind
        self.text = text
        self.value = value
        self.span = span

    def __repr__(self) -> str:
        return f"Token({self.kind!r}, {self.text!r})"


class LexError(Exception):
    """Raised inside the lexer; turned into an ``error`` token."""

    def __init__(self, message: str, start: int, end: int):
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


def parse_int_literal(text: str) -> int:
    """The value of an integer literal as bpftrace reads it, or ValueError.

    Accepts 0x/0b/leading-0 octal/decimal with '_' separators, C suffixes
    (u, l, ul, ll, ull), ``<m>e<n>`` and a duration suffix (ns us ms s m h d).
    """
    body = text.replace("_", "")
    low = body.lower()
    if low.startswith("0x"):
        digits = _strip_c_suffix(low[2:])
        return int(digits, 16)
    if low.startswith("0b"):
        return int(_strip_c_suffix(low[2:]), 2)
    i = 0
    while i < len(body) and body[i] in _DIGITS:
        i += 1
    digits, rest = body[:i], body[i:]
    if rest in DURATION_UNITS:
        return int(digits, 10) * DURATION_UNITS[rest]
    if rest[:1] in ("e", "E") and rest[1:].isdigit() and rest[1:].isascii():
        return _scientific(digits, rest[1:])
    if rest and _strip_c_suffix(rest.lower()) != "":
        raise ValueError(text)
    if len(digits) > 1 and digits[0] == "0":
        return int(digits, 8)
    return int(digits, 10)


def _scientific(coeff: str, exp: str) -> int:
    """``<c>e<n>``, refused as bpftrace does before any power is computed
    (10**n of a huge n would never finish)."""
    c, e = int(coeff, 10), int(exp, 10)
    if c > 9:
        raise LiteralError("Coefficient part of scientific literal must be in range (0,9), "
                           f"got: {coeff}")
    if e > 16:
        raise LiteralError(f"Exponent will overflow integer range: {exp}")
    return c * 10 ** e


class LiteralError(ValueError):
    """An integer literal refused with a message of its own."""


def _strip_c_suffix(low: str) -> str:
    for suffix in _C_SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            return low[: -len(suffix)]
        if low == suffix:
            return ""
    return low


class _Lexer:
    def __init__(self, text: str):
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.depth = 0  # open (, [ and { brackets

    # ------------------------------------------------------------ positions

    def _span(self, start: int, end: int, multiline: bool = False) -> Span:
        """Span of text[start:end], which starts at or before pos."""
        ls = self.line_start
        if not multiline and start >= ls:
            return Span(self.line, start - ls + 1, self.line, end - ls + 1)
        line, ls = self._line_of(start)
        eline, els = self._line_of(end)
        return Span(line, start - ls + 1, eline, end - els + 1)

    def _line_of(self, offset: int) -> tuple[int, int]:
        # Tokens start at or after the current line start except for the
        # multi-line ones (cdef, comments), so scanning back is rare.
        line, ls = self.line, self.line_start
        if offset >= ls:
            return line, ls
        while offset < ls:
            ls = self.text.rfind("\n", 0, ls - 1) + 1
            line -= 1
        return line, ls

    def _advance_to(self, end: int) -> None:
        """Move pos to end, keeping line bookkeeping across newlines."""
        text = self.text
        nl = text.find("\n", self.pos, end)
        while nl != -1:
            self.line += 1
            self.line_start = nl + 1
            nl = text.find("\n", nl + 1, end)
        self.pos = end

    def _emit(self, kind: str, start: int, end: int, value=None,
              text: str | None = None) -> Token:
        span = self._span(start, end, kind in (CDEF, CPP, ERROR))
        tok = Token(kind, self.text[start:end] if text is None else text,
                    value, span)
        self.tokens.append(tok)
        return tok

    # ------------------------------------------------------------ main loop

    def run(self) -> list[Token]:
        return list(self.stream())

    def stream(self):
        """The tokens one at a time: a parser that stops at an early error
        leaves the rest of a long script unread."""
        text, n = self.text, self.n
        if text.startswith("#!"):
            end = text.find("\n")
            self._advance_to(n if end == -1 else end)
        done = 0
        while True:
            try:
                self._skip_trivia()
            except LexError as e:
                self._error(e)
                break
            if self.pos >= n:
                break
            try:
                self._next()
            except LexError as e:
                self._error(e)
                # The rest of the script cannot be trusted after a lexical
                # error; the parser stops at the error token anyway.
                break
            tokens = self.tokens
            while done < len(tokens):
                yield tokens[done]
                done += 1
        self._emit(EOF, self.pos, self.pos, text="")
        yield from self.tokens[done:]

    def _error(self, e: LexError) -> None:
        tok = self._emit(ERROR, e.start, max(e.end, e.start), e.message)
        tok.value = e.message

    def _skip_trivia(self) -> None:
        text, n = self.text, self.n
        while self.pos < n:
            m = _BLANKS_RE.match(text, self.pos)
            if m:
                self.pos = m.end()
                if self.pos >= n:
                    return
            c = text[self.pos]
            if c == "\n":
                self.line += 1
                self.pos += 1
                self.line_start = self.pos
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end == -1:
                    start = self.pos
                    raise LexError("end of file during comment", start,
                                   start + 2)
                self._advance_to(end + 2)
            else:
                return

    def _at_toplevel_item(self) -> bool:
        if self.depth:
            return False
        if not self.tokens:
            return True
        return self.tokens[-1].kind in ("}", ";", ",", CPP, CDEF)

    def _next(self) -> None:
        text, pos = self.text, self.pos
        c = text[pos]
        if c in _IDENT_START:
            end = pos + 1
            while end < self.n and text[end] in _IDENT_CHARS:
                end += 1
            word = text[pos:end]
            if self._at_toplevel_item():
                if word in ("struct", "union", "enum") and self._cdef(pos, end):
                    return
                if word == "typedef":
                    self._typedef(pos)
                    return
                if word not in TOPLEVEL_WORDS:
                    self._attach_point(pos)
                    return
            kind = word if word in KEYWORDS else IDENT
            self._emit(kind, pos, end, word)
            self._advance_to(end)
        elif c in _ATTACH_START and self._at_toplevel_item():
            self._attach_point(pos)
        elif c in _DIGITS:
            self._number(pos)
        elif c == '"':
            self._string(pos)
        elif c == "$":
            self._dollar(pos)
        elif c == "@":
            end = pos + 1
            while end < self.n and text[end] in _IDENT_CHARS:
                end += 1
            if end > pos + 1 and text[pos + 1] in _DIGITS:
                raise LexError("invalid character '@'", pos, pos + 1)
            self._emit(MAP, pos, end, text[pos + 1:end])
            self._advance_to(end)
        elif c == "#":
            self._preprocessor(pos)
        else:
            self._operator(pos, c)

    def _operator(self, pos: int, c: str) -> None:
        text = self.text
        m = _OPERATOR_RE.match(text, pos)
        if m is None:
            raise LexError(f"invalid character '{c}'", pos, pos + 1)
        op = m.group()
        end = m.end()
        kind = op
        if op == "/" and self.depth == 0 and self._brace_follows(end):
            kind = ENDPRED
        if op in _OPEN:
            self.depth += 1
        elif op in _CLOSE and self.depth:
            self.depth -= 1
        self._emit(kind, pos, end, op)
        self._advance_to(end)

    def _brace_follows(self, j: int) -> bool:
        """Is the next thing after offset j, past blanks and comments, a '{'?"""
        text, n = self.text, self.n
        while j < n:
            m = _BLANKS_RE.match(text, j)
            if m and m.end() > j:
                j = m.end()
            elif text[j] == "\n":
                j += 1
            elif text.startswith("/*", j):
                close = text.find("*/", j + 2)
                if close == -1:
                    return False
                j = close + 2
            else:
                break
        return j < n and text[j] == "{"

    # ------------------------------------------------------------ literals

    def _number(self, pos: int) -> None:
        text = self.text
        end = pos
        while end < self.n and text[end] in _IDENT_CHARS:
            end += 1
        lit = text[pos:end]
        try:
            value = parse_int_literal(lit)
        except LiteralError as e:
            raise LexError(str(e), pos, end)
        except ValueError:
            raise LexError(f"invalid integer literal '{lit}'", pos, end)
        if value > MAX_U64:
            raise LexError(f"integer literal '{lit}' is out of range", pos, end)
        self._emit(INT, pos, end, value)
        self._advance_to(end)

    def _string(self, pos: int) -> None:
        value, end = self._read_string(pos)
        self._emit(STR, pos, end, value)
        self._advance_to(end)

    def _read_string(self, pos: int) -> tuple[str, int]:
        """Decode the string literal at pos; return (value, end offset)."""
        text, n = self.text, self.n
        out: list[str] = []
        i = pos + 1
        while True:
            j = _STRING_RUN_RE.match(text, i).end()
            out.append(text[i:j])
            if j >= n or text[j] == "\n":
                raise LexError("unterminated string", pos, j)
            if text[j] == '"':
                return "".join(out), j + 1
            i = self._escape(pos, j, out)

    def _escape(self, start: int, j: int, out: list[str]) -> int:
        """Decode the escape at text[j] == '\\'; return the offset after it."""
        text, n = self.text, self.n
        e = text[j + 1] if j + 1 < n else ""
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            return j + 2
        if e == "x":
            k = j + 2
            while k < n and k < j + 4 and text[k] in _HEX:
                k += 1
            if k > j + 2:
                out.append(ast.raw_byte(int(text[j + 2:k], 16)))
                return k
        elif e in _OCT:
            k = j + 1
            while k < n and k < j + 4 and text[k] in _OCT:
                k += 1
            out.append(ast.raw_byte(int(text[j + 1:k], 8) & 0xFF))
            return k
        if e in ("", "\n"):
            raise LexError("unterminated string", start, j + 1)
        raise LexError(f"invalid escape character '\\{e}'", start, j + 2)

    def _dollar(self, pos: int) -> None:
        text = self.text
        end = pos + 1
        if end < self.n and text[end] == "#":
            self._emit(PARAMCOUNT, pos, end + 1)
            self._advance_to(end + 1)
            return
        while end < self.n and text[end] in _IDENT_CHARS:
            end += 1
        name = text[pos + 1:end]
        if not name:
            raise LexError("invalid character '$'", pos, pos + 1)
        if name[0] in _DIGITS:
            if not name.isdigit():
                raise LexError(f"invalid positional parameter '${name}'",
                               pos, end)
            self._emit(PARAM, pos, end, int(name))
        else:
            self._emit(VAR, pos, end, name)
        self._advance_to(end)

    # ------------------------------------------------------------ top level

    def _preprocessor(self, pos: int) -> None:
        """A '#' line, joined across backslash-newline continuations."""
        text = self.text
        end = pos
        while True:
            nl = text.find("\n", end)
            if nl == -1:
                end = self.n
                break
            if nl > pos and text[nl - 1] == "\\":
                end = nl + 1
                continue
            end = nl
            break
        self._emit(CPP, pos, end, text[pos:end].rstrip())
        self._advance_to(end)

    def _cdef(self, pos: int, word_end: int) -> bool:
        """Read ``struct X { ... };`` raw; False if no '{' follows the name."""
        text, n = self.text, self.n
        i = self._after_attributes(word_end)
        while i < n and text[i] in _IDENT_CHARS:
            i += 1
        i = self._after_attributes(i)
        if i >= n or text[i] != "{":
            return False
        depth = 0
        while i < n:
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if i >= n:
            raise LexError("unterminated definition", pos, word_end)
        end = i + 1
        j = self._after_attributes(end)
        if j > end and text[end:j].strip():
            end = j   # `} __attribute__((packed))`
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == ";":
            end = j + 1
        raw = text[pos:end]
        self._emit(CDEF, pos, end, raw)
        self._advance_to(end)
        return True

    def _typedef(self, pos: int) -> None:
        """Read ``typedef ... NAME;`` raw, to its ';' outside braces."""
        text, n = self.text, self.n
        depth, i = 0, pos
        while i < n and not (text[i] == ";" and depth == 0):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if i >= n:
            raise LexError("unterminated typedef", pos, pos + len("typedef"))
        self._emit(CDEF, pos, i + 1, text[pos:i + 1])
        self._advance_to(i + 1)

    def _after_attributes(self, i: int) -> int:
        """Past blanks and GNU `__attribute__((...))` groups from i."""
        text, n = self.text, self.n
        while True:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if not text.startswith("__attribute__", i):
                return i
            j = i + len("__attribute__")
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n or text[j] != "(":
                return i
            depth = 0
            while j < n:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            i = j

    def _attach_point(self, pos: int) -> None:
        text, n = self.text, self.n
        i = pos
        seg_start = pos
        seen_colon = False
        while i < n:
            c = text[i]
            if c == '"':
                _, i = self._read_string(i)
                continue
            if c == "{":
                close = self._brace_group_end(i) if seen_colon else -1
                if close == -1:
                    break
                i = close + 1
                continue
            if c == "/":
                seg = text[seg_start:i]
                if not (i == seg_start or seg[:1] in ("/", ".")) and \
                        not (seen_colon and self._path_to_colon(i)):
                    break
            elif c == ":":
                seen_colon = True
                seg_start = i + 1
            elif c not in _ATTACH_CHARS:
                break
            i += 1
        raw = text[pos:i]
        self._emit(ATTACH, pos, i, split_attach_point(raw))
        self._advance_to(i)

    def _path_to_colon(self, i: int) -> bool:
        """Is the '/' at i inside a relative path that a ':' ends
        (`uprobe:testprogs/prog:f`), as bpftrace lexes a path between two
        colons? Otherwise it opens a predicate (`kprobe:f/pid/`)."""
        text, n = self.text, self.n
        j = i
        while j < n and (text[j] in _IDENT_CHARS or text[j] in "-./"):
            j += 1
        return j < n and text[j] == ":"

    def _brace_group_end(self, i: int) -> int:
        """Offset of the '}' closing a ``{a,b}`` alternation at i, or -1."""
        text, n = self.text, self.n
        j = i + 1
        while j < n and text[j] in _BRACE_GROUP_CHARS:
            j += 1
        if j < n and text[j] == "}" and j > i + 1:
            return j
        return -1


def split_attach_point(raw: str) -> list[str]:
    """Split an attach point at ':' outside double quotes, unquoting parts."""
    parts: list[str] = []
    cur: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == '"':
            i += 1
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n:
                    i += 1
                cur.append(raw[i])
                i += 1
            i += 1
        elif c == ":":
            parts.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    parts.append("".join(cur))
    return parts


def tokenize(text: str) -> list[Token]:
    """All tokens of text, ending with an ``eof`` token (see module doc)."""
    return _Lexer(text).run()


def token_stream(text: str):
    """The tokens of text as an iterator, lexed as they are taken."""
    return _Lexer(text).stream()
