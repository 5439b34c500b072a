"""The conditional lines of a script's C preamble (``#ifdef``, ``#ifndef``,
``#if``, ``#else``, ``#endif``) and its string ``#define``s, which bpftrace
leaves to clang's preprocessor.

bpftrace 0.26 defines ``BPFTRACE_HAVE_BTF`` when the kernel has BTF;
bpfscope reads every kernel type from BTF, so it always defines it: the
``#ifndef BPFTRACE_HAVE_BTF`` blocks of bpftrace's tools (their own struct
definitions, for kernels without BTF) are skipped, and BTF's layouts are
used. The parser asks :class:`Conditionals` whether an item of the
preamble is kept; a string ``#define`` name used in an expression becomes
the string (``#define RED "\\033[31m"``).
"""

from __future__ import annotations

import re

from ..errors import Span, SyntaxErr

PREDEFINED = frozenset(("BPFTRACE_HAVE_BTF",))

_DIRECTIVE = re.compile(r"#\s*(ifdef|ifndef|if|elif|else|endif|define|undef)\b\s*(.*)", re.S)
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"")


class Conditionals:
    def __init__(self):
        self.defined: set[str] = set(PREDEFINED)
        self.strings: dict[str, str] = {}
        # per open #if: (this branch is kept, a branch of it was kept)
        self._stack: list[tuple[bool, bool]] = []

    @property
    def active(self) -> bool:
        return all(kept for kept, _ in self._stack)

    def line(self, text: str, span: Span) -> bool:
        """Take one preprocessor line; True when it was a conditional (or
        a define) that the parser must not keep as a C definition."""
        m = _DIRECTIVE.match(text.strip())
        if m is None:
            return False
        word, rest = m.group(1), m.group(2).strip()
        if word in ("define", "undef"):
            if not self.active:
                return True
            name, _, value = rest.partition(" ")
            name = name.split("(")[0]
            if word == "undef":
                self.defined.discard(name)
                self.strings.pop(name, None)
                return True
            self.defined.add(name)
            value = value.strip()
            if _STRING.fullmatch(value):
                self.strings[name] = value[1:-1].encode().decode("unicode_escape")
            return False  # the C definitions still see it (integer values)
        if word in ("ifdef", "ifndef"):
            kept = (rest.split()[0] in self.defined if rest else False) == (word == "ifdef")
            self._stack.append((kept, kept))
        elif word == "if":
            kept = self._truth(rest)
            self._stack.append((kept, kept))
        elif not self._stack:
            raise SyntaxErr(f"#{word} without #if", span)
        elif word == "elif":
            _, done = self._stack[-1]
            kept = not done and self._truth(rest)
            self._stack[-1] = (kept, done or kept)
        elif word == "else":
            _, done = self._stack[-1]
            self._stack[-1] = (not done, True)
        else:  # endif
            self._stack.pop()
        return True

    def _truth(self, cond: str) -> bool:
        """`#if 0`, `#if 1`, `#if defined(X)`, `#if !defined X`; anything
        else counts as true, as a name clang would know."""
        c = cond.strip()
        neg = c.startswith("!")
        c = c.lstrip("!").strip()
        m = re.fullmatch(r"defined\s*\(?\s*(\w+)\s*\)?", c)
        if m:
            value = m.group(1) in self.defined
        elif re.fullmatch(r"\d+", c):
            value = int(c) != 0
        else:
            value = True
        return value != neg

    def finish(self, span: Span):
        if self._stack:
            raise SyntaxErr("unterminated #if", span)
