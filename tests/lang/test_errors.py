"""Syntax errors: bpftrace's wording and spans; no other exception ever."""

import random
from pathlib import Path

import pytest

from bpfscope.errors import Source, Span, SyntaxErr
from bpfscope.lang.parser import parse

CORPUS = Path(__file__).parent / "corpus" / "programs.bt"


@pytest.mark.parametrize("text,message,span", [
    # These six match bpftrace 0.17 word for word.
    ('BEGIN { printf("%d\\n" 1); }',
     'syntax error, unexpected integer, expecting ) or ","', Span(1, 23, 1, 24)),
    ("BEGIN { $x = ; }", "syntax error, unexpected ;", Span(1, 14, 1, 15)),
    ("BEGIN { @x = 1",
     "syntax error, unexpected end of file, expecting }", Span(1, 15, 1, 15)),
    ("BEGIN { if (1) { } else }",
     "syntax error, unexpected }, expecting { or if", Span(1, 25, 1, 26)),
    ("BEGIN { x y }",
     "syntax error, unexpected identifier, expecting }", Span(1, 11, 1, 12)),
    ("BEGIN { unroll(2) 1 }",
     "syntax error, unexpected integer, expecting {", Span(1, 19, 1, 20)),
    ("kprobe:f /pid/ ", "syntax error, unexpected end of file",
     Span(1, 16, 1, 16)),
    ("kprobe:f /pid { }",
     "syntax error, unexpected {, expecting end predicate", Span(1, 15, 1, 16)),
    ("BEGIN { @x[1 = 2; }",
     'syntax error, unexpected =, expecting ] or ","', Span(1, 14, 1, 15)),
    ("BEGIN { (1, 2 }",
     'syntax error, unexpected }, expecting ) or ","', Span(1, 15, 1, 16)),
    ("BEGIN { 1 = 2; }",
     "syntax error, unexpected =, expecting }", Span(1, 11, 1, 12)),
    # bpftrace 0.26 takes `if 1 { }`; an if without a condition stays wrong
    ("BEGIN { if { } }",
     "syntax error, unexpected {, expecting (", Span(1, 12, 1, 13)),
    ("BEGIN { if (1) { }; }",
     "syntax error, unexpected ;, expecting }", Span(1, 19, 1, 20)),
    ("BEGIN { while (1) 2 }",
     "syntax error, unexpected integer, expecting {", Span(1, 19, 1, 20)),
    ("BEGIN { print(1,) }", "syntax error, unexpected )", Span(1, 17, 1, 18)),
    ("BEGIN { $x.; }", "syntax error, unexpected ;", Span(1, 12, 1, 13)),
    ("BEGIN { pid y }",
     "syntax error, unexpected identifier, expecting }", Span(1, 13, 1, 14)),
    ("BEGIN { y pid }",
     "syntax error, unexpected builtin, expecting }", Span(1, 11, 1, 14)),
    ("BEGIN", "unexpected end of file, expected {", Span(1, 1, 1, 6)),
    ("BEGIN {}\n}", "syntax error, unexpected }", Span(2, 1, 2, 2)),
    ('BEGIN { $x = 1 ` }', "invalid character '`'", Span(1, 16, 1, 17)),
    ('BEGIN { "abc }', "unterminated string", Span(1, 9, 1, 15)),
    ("BEGIN { /* x", "end of file during comment", Span(1, 9, 1, 11)),
    ('BEGIN { $x = "\\q"; }', "invalid escape character '\\q'",
     Span(1, 14, 1, 17)),
    ("BEGIN { $x = 12abc; }", "invalid integer literal '12abc'",
     Span(1, 14, 1, 19)),
    ("BEGIN { $x = { 1; }; }",
     "a block used as a value must end with an expression", Span(1, 14, 1, 20)),
    ("fn f($a) {}", "syntax error, unexpected ), expecting :",
     Span(1, 8, 1, 9)),
    ("config = { a = 1 } config = { b = 2 } BEGIN {}",
     "duplicate config block", Span(1, 20, 1, 26)),
])
def test_error_message_and_span(text, message, span):
    with pytest.raises(SyntaxErr) as info:
        parse(Source(text))
    assert (info.value.message, info.value.span) == (message, span)


def test_syntax_error_before_later_bad_character():
    # The lexer error comes later in the text, so the syntax error wins.
    with pytest.raises(SyntaxErr) as info:
        parse(Source("BEGIN { $x = ; } ` "))
    assert info.value.message == "syntax error, unexpected ;"


def test_formatted_like_bpftrace():
    src = Source('BEGIN { printf("%d\\n" 1); }')
    with pytest.raises(SyntaxErr) as info:
        parse(src)
    assert info.value.format(src) == (
        'stdin:1:23-24: ERROR: syntax error, unexpected integer, '
        'expecting ) or ","\n'
        'BEGIN { printf("%d\\n" 1); }\n'
        '                      ~')


def test_deep_nesting_is_a_syntax_error():
    with pytest.raises(SyntaxErr):
        parse(Source("BEGIN { $x = " + "(" * 5000 + "1" + ")" * 5000 + "; }"))


def _parse_or_syntax_error(text):
    try:
        parse(Source(text))
    except SyntaxErr:
        pass


def test_truncated_programs_raise_only_syntax_errors():
    for program in CORPUS.read_text().split("// ----\n"):
        for cut in range(len(program)):
            _parse_or_syntax_error(program[:cut])


def test_random_programs_raise_only_syntax_errors():
    rng = random.Random(1234)
    pieces = ['BEGIN', 'kprobe:f', '{', '}', '(', ')', '[', ']', ';', ',',
              '/', '$x', '@m', '@', '$1', '$#', '1', '0x', '"s"', '"', 'if',
              'else', 'for', 'while', 'unroll', 'let', 'fn', 'macro',
              'config', '=', '+=', '++', '?', ':', '..', '.', '->', '*', '&',
              '-', '!', 'pid', 'f', 'struct', 'sizeof', 'offsetof', 'return',
              '#include <x>\n', '/*', '*/', '//', '\n', ' ', '`', '\\',
              'uint32', 'import', 'true']
    for _ in range(3000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        _parse_or_syntax_error(text)
    chars = "{}()[];,/$@#\"'\\:.?*&-+<>=!~ \n\tabc019xe_"
    for _ in range(2000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(1, 40)))
        _parse_or_syntax_error(text)
