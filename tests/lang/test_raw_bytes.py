"""Bytes above 0x7f in string literals are bytes, as in bpftrace: the
escapes ``\\xNN`` and ``\\NNN`` and invalid UTF-8 in the script become one
surrogate each (Python's surrogateescape) and reach the program, the
kernel and the output as that one byte, not as its UTF-8 encoding."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.errors import BpfscopeError
from bpfscope.lang import ast
from bpfscope.lang.lexer import STR, tokenize
from bpfscope.lang.printer import quote_string


def _string(src: str) -> str:
    [tok] = [t for t in tokenize(src) if t.kind == STR]
    return tok.value


@pytest.mark.parametrize("src,raw", [
    (r'"\xff"', b"\xff"),
    (r'"\377"', b"\xff"),
    (r'"\x80\x7f"', b"\x80\x7f"),
    (r'"\303\251"', b"\xc3\xa9"),      # UTF-8 written byte by byte: é
    ('"é"', b"\xc3\xa9"),
    (r'"\x41\101"', b"AA"),
    (r'"\400"', b"\x00"),              # as C: the low byte of \400
])
def test_escapes_are_bytes(src, raw):
    value = _string(src)
    assert ast.string_bytes(value) == raw


def test_raw_byte_is_a_surrogate_above_0x7f():
    assert ast.raw_byte(0x41) == "A"
    assert ast.raw_byte(0xFF) == "\udcff"
    assert "\udcff".encode("utf-8", "surrogateescape") == b"\xff"


def test_printer_writes_raw_bytes_back_as_escapes():
    value = _string(r'"a\xffé\n"')
    text = quote_string(value)
    assert text == '"a\\377é\\n"'
    assert _string(text) == value


def test_invalid_utf8_of_the_script_is_bytes():
    # what cli reads from a file with surrogateescape for b'"\xff"'
    text = b'BEGIN { printf("\xff\\n"); }'.decode("utf-8", "surrogateescape")
    api.compile_script(text)


def test_a_surrogate_that_is_no_byte_is_refused():
    with pytest.raises(BpfscopeError, match="invalid UTF-8 in string literal"):
        api.compile_script('BEGIN { printf("\ud800\\n"); }')
