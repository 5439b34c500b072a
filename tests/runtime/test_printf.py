"""printf rendering; expected strings observed from bpftrace 0.17 (same
cast-per-length-modifier logic as 0.26's format_string.cpp)."""

import pytest

from bpfscope.runtime.printf import (Conversion, FormatError, Literal,
                                     arg_count, check_arg_count, parse_format,
                                     render)
from bpfscope.runtime.values import Buffer

N = -1


@pytest.mark.parametrize("fmt,args,expected", [
    ("A|%d|%u|%x|%X|%o|\n", [N] * 5,
     "A|-1|4294967295|ffffffff|FFFFFFFF|37777777777|\n"),
    ("B|%hhd|%hd|%hhu|%hu|%ld|%lld|%lu|%zd|%jd|%td|\n",
     [300, 70000, 300, 70000] + [N] * 6,
     "B|44|4464|44|4464|-1|-1|18446744073709551615|-1|-1|-1|\n"),
    ("C|%d|%u|%x|%d|%u|\n", [-5, -5, -5, 200, 200],
     "C|-5|4294967291|fffffffb|200|200|\n"),
    ("D|%c|%c|%5c|%-3c|\n", [65, 321, 66, 67], "D|A|A|    B|C  |\n"),
    ("E|%s|%10s|%-10s|%.2s|%5.1s|\n", ["abc"] * 5,
     "E|abc|       abc|abc       |ab|    a|\n"),
    ("F|%5d|%-5d|%05d|%.3d|%5.3d|\n", [42, 42, 42, 7, 7],
     "F|   42|42   |00042|007|  007|\n"),
    ("I|%lx|%llx|%hx|%hhx|%hho|%lo|\n", [N] * 6,
     "I|ffffffffffffffff|ffffffffffffffff|ffff|ff|377|"
     "1777777777777777777777|\n"),
    # %d without length modifier is a C int: 0x100000005 prints 5.
    ("A|%d|%u|%x|%ld|%5.2d|\n", [0x100000005] * 5,
     "A|5|5|5|4294967301|   05|\n"),
    ("B|%-8x|%08x|%-8s|%s|\n", [255, 255, "xy", ""],
     "B|ff      |000000ff|xy      ||\n"),
    ("C|%x|%X|%o|%d|\n", [255, -1, -1, -1],
     "C|ff|FFFFFFFF|37777777777|-1|\n"),
    ("G|%p|%p|\n", [4096, 0], "G|0x1000|(nil)|\n"),
    ("D|%p|\n", [-1], "D|0xffffffffffffffff|\n"),
    # %% before a conversion is folded; text after the last one is not.
    ("G|%%|%d|\n", [1], "G|%|1|\n"),
    ("J|a%%b|\n", [], "J|a%%b|\n"),
    ("K|%d%%|\n", [5], "K|5%%|\n"),
    ("L|%d %% %d|\n", [5, 6], "L|5 % 6|\n"),
    ("100% sure\n", [], "100% sure\n"),
])
def test_render_matches_bpftrace(fmt, args, expected):
    assert render(fmt, args) == expected


def test_char_zero_ends_the_piece():
    assert render("a%cb%d|", [0, 7]) == "ab7|"


def test_buffer_conversions():
    buf = Buffer(b"hi\x00\xff")
    assert render("%r|%rx|%rh|%8r|", [buf] * 4) == \
        "hi\\x00\\xff|\\x68\\x69\\x00\\xff|68 69 00 ff|hi\\x00\\xff|"


def test_parse_format_segments():
    assert parse_format("x=%-08.3lx!") == [
        Literal("x="),
        Conversion("%-08.3lx", "x", "l", True, True, 8, 3),
        Literal("!"),
    ]
    assert parse_format("%rh%s") == [Conversion("%rh", "rh"),
                                     Conversion("%s", "s")]


def test_arg_count_ignores_percent_percent():
    assert arg_count("%d %% %s %rx") == 3
    assert arg_count("100%%") == 0


@pytest.mark.parametrize("fmt,token", [
    ("%+d", "%+d"), ("%#x", "%#x"), ("%i", "%i"),
    ("%f", "%f"), ("%5.2lf", "%5.2lf"),
])
def test_unsupported_specs_raise(fmt, token):
    with pytest.raises(FormatError) as e:
        parse_format(fmt)
    assert str(e.value) == f"Unknown format string token: {token}"


def test_arg_count_messages_match_bpftrace():
    # Wording from bpftrace 0.17 and 0.26 semantic checks.
    with pytest.raises(FormatError) as e:
        check_arg_count("%d %d %d %d %d", 6)
    assert str(e.value) == ("printf: Too many arguments for format string "
                            "(6 supplied, 5 expected)")
    with pytest.raises(FormatError) as e:
        render("%d %s", [1])
    assert str(e.value) == ("printf: Not enough arguments for format string "
                            "(1 supplied, 2 expected)")


# --------------------------------------------- record formats (fast path)

def _record(types, values):
    """A printf record's arguments as the kernel lays them out: 8-byte
    aligned slots, integers little-endian, strings NUL-padded."""
    import struct
    from bpfscope.sema import types as T
    layout = T.TupleType(tuple(types))
    buf = bytearray(8 + layout.size)
    for t, off, v in zip(layout.elems, layout.offsets, values):
        if isinstance(t, T.StringType):
            buf[8 + off:8 + off + len(v)] = v
        else:
            struct.pack_into("<Q", buf, 8 + off, v & (1 << 64) - 1)
    return layout, bytes(buf)


@pytest.mark.parametrize("fmt,types,values", [
    ("EV %d\n", ["u32"], [12345]),
    ("%d %u %x %X %o|\n", ["u32"] * 5, [0xFFFFFFFF, 0xFFFFFFFF, 255, 255, 8]),
    ("%d %ld %lu %lx\n", ["s64"] * 4, [-1, -1, -1, -3]),
    ("%hhd %hd %hhu %hu\n", ["s64"] * 4, [0x1FF, 0x18000, -1, -1]),
    ("%5d|%-5d|%05d|%.3d\n", ["s32"] * 4, [-7, 7, 42, 3]),
    ("%ld %lu %d\n", ["s32", "u8", "s16"], [-5, 200, -3]),
    ("%s and %-8s|%.2s\n", [("str", 16), ("str", 8), ("str", 16)], [b"abc", b"x", b"hello"]),
    ("100%% %s %d%%\n", [("str", 16), "u64"], [b"\xff\xfe", 9]),
    ("no conversions%%\n", [], []),
])
def test_record_format_prints_what_render_prints(fmt, types, values):
    from bpfscope.runtime.decode import decode
    from bpfscope.runtime.printf import compile_record_format
    from bpfscope.sema import types as T
    ts = [T.StringType(t[1]) if isinstance(t, tuple) else
          T.IntType(int(t[1:]), t[0] == "s") for t in types]
    layout, data = _record(ts, values)
    text = compile_record_format(fmt, layout, full=1023)
    assert text is not None
    want = render(fmt, decode(layout, data, 8)) if ts else render(fmt, ())
    assert text(memoryview(data), 8) == want


@pytest.mark.parametrize("fmt,types", [
    ("%c\n", ["u8"]),                       # C and Python differ
    ("%p\n", ["u64"]),
    ("%lu\n", ["s32"]),                     # a signed value printed wider unsigned
    ("%s\n", ["u64"]),                      # render decides
    ("%d\n", [("str", 8)]),
    ("%d %d\n", ["u64"]),                   # count differs
])
def test_record_format_leaves_the_rest_to_render(fmt, types):
    from bpfscope.runtime.printf import compile_record_format
    from bpfscope.sema import types as T
    ts = [T.StringType(t[1]) if isinstance(t, tuple) else
          T.IntType(int(t[1:]), t[0] == "s") for t in types]
    assert compile_record_format(fmt, T.TupleType(tuple(ts)), full=1023) is None


@pytest.mark.parametrize("value,want", [
    (b"a" * 1023, "a" * 1023 + ".."),       # full: cut short, as bpftrace takes it
    (b"a" * 1022, "a" * 1022),
    (b"\xffb", "\udcffb"),                  # raw bytes stay raw
])
def test_record_format_of_a_max_strlen_string_adds_the_trailer_when_full(value, want):
    from bpfscope.runtime.printf import compile_record_format
    from bpfscope.sema import types as T
    layout, data = _record([T.StringType(1024)], [value])
    text = compile_record_format("<%s>", layout, full=1023, trailer="..")
    assert text(memoryview(data), 8) == f"<{want}>"
