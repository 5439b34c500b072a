"""Lexer: literals, escapes, sigils, operators, attach points, spans."""

import pytest

from bpfscope.errors import Span
from bpfscope.lang.lexer import parse_int_literal, split_attach_point, tokenize


def kinds(text):
    return [t.kind for t in tokenize(text)][:-1]


def body_tokens(text):
    """Tokens inside 'BEGIN { ... }' (so the lexer is in statement mode)."""
    return tokenize("BEGIN { " + text + " }")[2:-2]


@pytest.mark.parametrize("lit,value", [
    ("0", 0), ("42", 42), ("0x1F", 31), ("0XfF", 255), ("010", 8),
    ("0b101", 5), ("1_000_000", 1_000_000), ("0x_ff", 255), ("1e6", 10**6),
    ("2e3", 2000), ("5ns", 5), ("5us", 5_000), ("5ms", 5_000_000),
    ("2s", 2_000_000_000), ("1m", 60_000_000_000), ("1h", 3_600_000_000_000),
    ("1d", 86_400_000_000_000), ("123UL", 123), ("123u", 123),
    ("123LL", 123), ("0x10ull", 16),
])
def test_int_literals(lit, value):
    assert parse_int_literal(lit) == value
    (tok,) = body_tokens(lit)
    assert (tok.kind, tok.value, tok.text) == ("int", value, lit)


@pytest.mark.parametrize("lit", ["12abc", "0x", "1e", "09", "0b2", "5mss"])
def test_bad_int_literals(lit):
    tok = tokenize("BEGIN { " + lit + " }")[-2]
    assert tok.kind == "error"
    assert tok.value == f"invalid integer literal '{lit}'"


def test_int_out_of_range():
    tok = tokenize("BEGIN { 18446744073709551616 }")[-2]
    assert tok.value == "integer literal '18446744073709551616' is out of range"
    (ok,) = body_tokens("18446744073709551615")
    assert ok.value == 2**64 - 1


@pytest.mark.parametrize("src,value", [
    (r'"a\nb"', "a\nb"), (r'"\t\r"', "\t\r"), (r'"\\"', "\\"),
    (r'"\""', '"'), (r'"\'"', "'"), (r'"\0"', "\0"), (r'"\x41\x4a"', "AJ"),
    (r'"\101\0101"', "A\x081"), (r'"\1234"', "S4"), ('""', ""),
])
def test_string_escapes(src, value):
    (tok,) = body_tokens(src)
    assert (tok.kind, tok.value) == ("str", value)


def test_sigils():
    toks = body_tokens("$x $1 $# @m @ @_a1")
    assert [(t.kind, t.value) for t in toks] == [
        ("var", "x"), ("param", 1), ("paramcount", None), ("map", "m"),
        ("map", ""), ("map", "_a1")]


def test_operators_maximal_munch():
    text = "<<= >>= << >> <= >= < > == != && || ++ -- += -= *= /= %= &= |= ^= -> .. ? : . ~ !"
    assert [t.kind for t in body_tokens(text)] == text.split()


def test_adjacent_operators():
    assert [t.kind for t in body_tokens("$a+++$b")] == ["var", "++", "+", "var"]
    assert [t.kind for t in body_tokens("0..10")] == ["int", "..", "int"]
    assert [t.text for t in body_tokens("$t.0.1")] == ["$t", ".", "0", ".", "1"]


def test_keywords_and_identifiers():
    toks = body_tokens("if else while for unroll return break continue let sizeof offsetof foo pid")
    assert [t.kind for t in toks] == [
        "if", "else", "while", "for", "unroll", "return", "break",
        "continue", "let", "sizeof", "offsetof", "ident", "ident"]


def test_comments_are_skipped():
    assert kinds("// c\nBEGIN /* x\n y */ { } // end") == ["attach", "{", "}"]


@pytest.mark.parametrize("raw", [
    "BEGIN", "end", "tracepoint:syscalls:sys_enter_*", "kprobe:vfs_read+16",
    "uprobe:/bin/bash:readline", "uprobe:./a.out:0x1234",
    "usdt:/usr/lib/x.so:prov:probe", "interval:1s", "software:page-faults:100",
    "watchpoint:0x10000000:8:rw", 'uprobe:./app:cpp:"ns::Klass::method"',
    "kprobe:vfs_{read,write}", "kprobe:f?o", "uprobe:$1:main",
    "uprobe:testprogs/prog:f", "uretprobe:a/b-c.d/e:f", "usdt:lib/x.so:prov:probe",
])
def test_attach_point_raw_text(raw):
    toks = tokenize(raw + " { }")
    assert (toks[0].kind, toks[0].text) == ("attach", raw)
    assert toks[1].kind == "{"


def test_attach_point_ends_at_brace_slash_and_comma():
    assert [t.text for t in tokenize("kprobe:f{}")][:3] == ["kprobe:f", "{", "}"]
    assert [t.kind for t in tokenize("kprobe:f/pid/{}")][:5] == [
        "attach", "/", "ident", "endpred", "{"]
    assert [t.text for t in tokenize("k:a,k:b{}")][:3] == ["k:a", ",", "k:b"]
    # a '/' not in a path that a ':' ends opens the predicate
    assert [t.kind for t in tokenize("uprobe:a:f/pid/{}")][:5] == [
        "attach", "/", "ident", "endpred", "{"]


def test_attach_point_parts():
    assert split_attach_point('uprobe:./app:cpp:"ns::K::m"') == [
        "uprobe", "./app", "cpp", "ns::K::m"]
    assert split_attach_point("BEGIN") == ["BEGIN"]
    assert split_attach_point("interval:s:1") == ["interval", "s", "1"]


def test_predicate_division_versus_end():
    toks = tokenize("i:s:1 / $x / 2 > 1 / { }")
    assert [t.kind for t in toks][1:8] == [
        "/", "var", "/", "int", ">", "int", "endpred"]


def test_c_definitions_are_raw():
    toks = tokenize("#include <a.h>\nstruct X { int a; struct { int b; } c; };\nBEGIN {}")
    assert [(t.kind, t.value) for t in toks[:2]] == [
        ("cpp", "#include <a.h>"),
        ("cdef", "struct X { int a; struct { int b; } c; };")]
    assert toks[2].kind == "attach"


def test_shebang_is_skipped():
    assert kinds("#!/usr/bin/env bpftrace\nBEGIN {}") == ["attach", "{", "}"]


def test_spans():
    toks = tokenize('BEGIN {\n  $x = "ab";\n}')
    assert [t.span for t in toks] == [
        Span(1, 1, 1, 6), Span(1, 7, 1, 8), Span(2, 3, 2, 5), Span(2, 6, 2, 7),
        Span(2, 8, 2, 12), Span(2, 12, 2, 13), Span(3, 1, 3, 2),
        Span(3, 2, 3, 2)]


@pytest.mark.parametrize("text,message,span", [
    ('BEGIN { "abc }', "unterminated string", Span(1, 9, 1, 15)),
    ('BEGIN { "a\n" }', "unterminated string", Span(1, 9, 1, 11)),
    ("BEGIN { /* x", "end of file during comment", Span(1, 9, 1, 11)),
    ("BEGIN { ` }", "invalid character '`'", Span(1, 9, 1, 10)),
    ('BEGIN { "\\q" }', "invalid escape character '\\q'", Span(1, 9, 1, 12)),
    ("BEGIN { $ }", "invalid character '$'", Span(1, 9, 1, 10)),
])
def test_lexical_errors(text, message, span):
    err = tokenize(text)[-2]
    assert (err.kind, err.value, err.span) == ("error", message, span)


@pytest.mark.parametrize("between", [
    " // why\n ", " /* why */ ", "\n/* a\n b */\n// c\n",
])
def test_predicate_end_before_comments(between):
    toks = tokenize(f"t:a:b /pid == 1/{between}{{ }}")
    assert [t.kind for t in toks][1:7] == ["/", "ident", "==", "int", "endpred", "{"]


def test_division_followed_by_comment_is_not_predicate_end():
    toks = tokenize("t:a:b / 4 / // c\n 2 > 1 / { }")
    assert [t.kind for t in toks][1:8] == ["/", "int", "/", "int", ">", "int", "endpred"]


@pytest.mark.parametrize("text", [
    "struct S { int a; } __attribute__((packed));",
    "struct __attribute__((packed)) S { int a; };",
])
def test_struct_with_attributes_is_one_definition(text):
    toks = tokenize(text + " BEGIN { }")
    assert (toks[0].kind, toks[0].text) == ("cdef", text)
    assert toks[1].kind == "attach"


def test_top_level_typedef_is_one_definition():
    text = "typedef struct { int a; long b; } pair_t;"
    toks = tokenize(text + "\ntypedef unsigned short u16x; BEGIN { }")
    assert [(t.kind, t.text) for t in toks[:3]] == [
        ("cdef", text), ("cdef", "typedef unsigned short u16x;"), ("attach", "BEGIN")]
    assert tokenize("typedef int x BEGIN { }")[0].kind == "error"
