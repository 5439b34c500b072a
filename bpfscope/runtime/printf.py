"""printf() formatting in user space, matching bpftrace's output.

bpftrace recognises a conversion as ``%``, an optional ``-``, width digits
(a leading ``0`` pads with zeros), an optional ``.precision``, then one of
``c s r rx rh gr`` or a length modifier (``hh h l ll j z t``) followed by
``d u o x X p``.  It cuts the format after each conversion and hands each
piece to C's snprintf with the argument cast to the C type the length
modifier names, so:

* ``%d`` with no length modifier prints a 32-bit ``int`` (``%hhd`` 8-bit,
  ``%hd`` 16-bit, ``%ld`` ``%lld`` ``%jd`` ``%zd`` ``%td`` 64-bit); ``u o x X``
  print the same bits unsigned, so ``%x`` of -1 is ``ffffffff``;
* ``%c`` prints the low byte; a zero byte ends that piece of output;
* ``%p`` prints ``0x...`` or ``(nil)`` for zero;
* ``%gr`` prints GFP flags by the kernel's names (runtime.gfpflags);
* ``%%`` before a conversion prints ``%``, but text after the last
  conversion (or the whole format when there is none) is printed as
  written, so ``printf("%d%%\\n", 5)`` prints ``5%%``.

Flags bpftrace does not support (``+``, ``#``) and unknown conversions
such as ``%i`` or ``%f`` raise :class:`FormatError`; ``% d`` is left as
literal text, as bpftrace leaves it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Sequence, Union

from bpfscope.runtime.values import Buffer, Formatted

_TOKEN = re.compile(
    r"%(?P<left>-?)(?P<width>[0-9]*)(?:\.(?P<prec>[0-9]+))?"
    r"(?:(?P<len>hh|h|ll|l|j|z|t)?(?P<int>[duoxXp])|(?P<other>[cs]|r[xh]?|gr))")
# Something meant as a conversion that bpftrace would not accept.  A space
# is left out so that prose like "100% sure" stays literal text.
_BAD = re.compile(r"%[-+#0-9.]*(?:hh|h|ll|l|j|z|t|L|q)?[a-zA-Z]")

_LENGTH_BITS = {"hh": 8, "h": 16, "": 32}
_BASES = {"d": 10, "u": 10, "o": 8, "x": 16, "X": 16}
U64_MASK = (1 << 64) - 1


class FormatError(ValueError):
    """An invalid printf format, or arguments that do not fit it."""


@dataclass(frozen=True)
class Literal:
    """Text between conversions, as written (``%%`` not yet folded)."""

    text: str


@dataclass(frozen=True)
class Conversion:
    """One conversion spec; ``text`` is the spec as written."""

    text: str
    conv: str
    length: str = ""
    left: bool = False
    zero: bool = False
    width: int = 0
    precision: int | None = None


Segment = Union[Literal, Conversion]


def _conversion(m: re.Match) -> Conversion:
    width = m.group("width")
    prec = m.group("prec")
    return Conversion(
        text=m.group(0),
        conv=m.group("int") or m.group("other"),
        length=m.group("len") or "",
        left=bool(m.group("left")),
        zero=width.startswith("0"),
        width=int(width) if width else 0,
        precision=int(prec) if prec is not None else None)


def parse_format(fmt: str) -> list[Segment]:
    """Split ``fmt`` into literal text and conversion specs."""
    segments: list[Segment] = []
    text: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            text.append(fmt[i])
            i += 1
            continue
        if fmt.startswith("%%", i):
            text.append("%%")
            i += 2
            continue
        m = _TOKEN.match(fmt, i)
        if m is None:
            bad = _BAD.match(fmt, i)
            if bad is not None:
                raise FormatError(
                    f"Unknown format string token: {bad.group(0)}")
            text.append("%")
            i += 1
            continue
        if text:
            segments.append(Literal("".join(text)))
            text = []
        segments.append(_conversion(m))
        i = m.end()
    if text:
        segments.append(Literal("".join(text)))
    return segments


def _segments(fmt: str | Sequence[Segment]) -> Sequence[Segment]:
    return parse_format(fmt) if isinstance(fmt, str) else fmt


def arg_count(fmt: str | Sequence[Segment]) -> int:
    """How many arguments ``fmt`` takes."""
    return sum(isinstance(s, Conversion) for s in _segments(fmt))


def check_arg_count(fmt: str | Sequence[Segment], n_args: int,
                    func: str = "printf") -> None:
    """Raise bpftrace's error when ``n_args`` does not fit ``fmt``."""
    expected = arg_count(fmt)
    if n_args < expected:
        raise FormatError(f"{func}: Not enough arguments for format string "
                          f"({n_args} supplied, {expected} expected)")
    if n_args > expected:
        raise FormatError(f"{func}: Too many arguments for format string "
                          f"({n_args} supplied, {expected} expected)")


# ---------------------------------------------------------------- rendering

def _pad(spec: Conversion, body: str) -> str:
    if spec.left:
        return body.ljust(spec.width)
    return body.rjust(spec.width)


def _as_int(value: object) -> int:
    if isinstance(value, Formatted):
        value = getattr(value, "raw", None) or 0
    if isinstance(value, str):
        return ord(value[0]) if value else 0
    return int(value)


def _number(spec: Conversion, value: int, prefix: str = "") -> str:
    base = _BASES[spec.conv]
    digits = "" if spec.precision == 0 and value == 0 else \
        format(abs(value), {10: "d", 8: "o", 16: spec.conv}[base])
    if spec.precision:
        digits = digits.rjust(spec.precision, "0")
    head = ("-" if value < 0 else "") + prefix
    if spec.zero and not spec.left and spec.precision is None:
        digits = digits.rjust(spec.width - len(head), "0")
    return _pad(spec, head + digits)


def _integer(spec: Conversion, value: int) -> str:
    bits = _LENGTH_BITS.get(spec.length, 64)
    v = value & ((1 << bits) - 1)
    if spec.conv == "d" and v >> (bits - 1):
        v -= 1 << bits
    return _number(spec, v)


def _pointer(spec: Conversion, value: int) -> str:
    v = value & U64_MASK
    if v == 0:
        return _pad(spec, "(nil)")
    return _number(Conversion(spec.text, "x", "", spec.left, spec.zero,
                              spec.width, spec.precision), v, "0x")


def _char(spec: Conversion, value: int) -> str:
    b = value & 0xFF
    # Bytes above 0x7f are not text; surrogateescape writes them back raw.
    ch = chr(b) if b < 0x80 else chr(0xDC00 + b)
    return _pad(spec, ch)


def _string(spec: Conversion, value: object) -> str:
    if isinstance(value, Buffer) and spec.conv != "s":
        s = value.hex_text(keep_ascii=spec.conv == "r",
                           escape=spec.conv != "rh")
    elif isinstance(value, (bytes, bytearray)):
        return _string(spec, Buffer(bytes(value)))
    elif isinstance(value, Formatted):
        s = value.text
    else:
        s = str(value)
    if spec.precision is not None:
        s = s[:spec.precision]
    return _pad(spec, s)


def format_arg(spec: Conversion, value: object) -> str:
    """One conversion applied to one argument."""
    if spec.conv in ("s", "r", "rx", "rh"):
        return _string(spec, value)
    if spec.conv == "c":
        return _char(spec, _as_int(value))
    if spec.conv == "p":
        return _pointer(spec, _as_int(value))
    if spec.conv == "gr":
        from bpfscope.runtime.gfpflags import gfp_text
        return _pad(spec, gfp_text(_as_int(value)))
    return _integer(spec, _as_int(value))


def render(fmt: str | Sequence[Segment], args: Sequence[object]) -> str:
    """The text bpftrace prints for ``printf(fmt, args...)``."""
    segments = _segments(fmt)
    check_arg_count(segments, len(args))
    out: list[str] = []
    text: list[str] = []
    argi = 0
    for seg in segments:
        if isinstance(seg, Literal):
            text.append(seg.text)
            continue
        piece = "".join(text).replace("%%", "%") + format_arg(seg, args[argi])
        argi += 1
        # snprintf output is used as a C string: a NUL byte from %c ends it.
        out.append(piece.split("\0", 1)[0])
        text = []
    out.append("".join(text))
    return "".join(out)


# ---------------------------------------------------------------- fast path

_FAST_CONVS = {"d", "u", "x", "X", "o", "s"}


def _int_converter(spec: Conversion):
    bits = _LENGTH_BITS.get(spec.length, 64)
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    if spec.conv == "d":
        return lambda v: ((v & mask) ^ sign) - sign
    return lambda v: v & mask


def compile_format(fmt: str):
    """A function of the argument list that prints exactly what
    :func:`render` prints, using Python's C-implemented % formatting.
    Conversions whose C and Python meanings differ (%c, %p, buffers) or
    arguments that are not plain ints and strings fall back to render.
    printf runs once per event, so this is on the hot path."""
    segments = parse_format(fmt)
    convs = [s for s in segments if isinstance(s, Conversion)]
    if any(c.conv not in _FAST_CONVS for c in convs):
        return lambda args: render(segments, args)
    pyfmt = _python_format(segments)
    converters = [None if c.conv == "s" else _int_converter(c) for c in convs]
    n = len(convs)

    def fast(args):
        if len(args) != n:
            return render(segments, args)
        vals = []
        for conv, v in zip(converters, args):
            if conv is None:
                if not isinstance(v, str):
                    return render(segments, args)
                vals.append(v)
            elif type(v) is int:
                vals.append(conv(v))
            else:
                return render(segments, args)
        return pyfmt % tuple(vals)
    return fast


def _python_format(segments: Sequence[Segment]) -> str:
    """The %-format string of Python that prints what bpftrace prints for
    these segments, for conversions in _FAST_CONVS of ints already cut to
    their length modifier's width and of strings."""
    parts: list[str] = []
    text: list[str] = []
    for seg in segments:
        if isinstance(seg, Literal):
            text.append(seg.text)
            continue
        parts.append("".join(text).replace("%%", "%").replace("%", "%%"))
        text = []
        flags = ("-" if seg.left else "") + ("0" if seg.zero and not seg.left else "")
        width = str(seg.width) if seg.width else ""
        prec = f".{seg.precision}" if seg.precision is not None else ""
        conv = "d" if seg.conv == "u" else seg.conv
        parts.append(f"%{flags}{width}{prec}{conv}")
    parts.append("".join(text).replace("%", "%%"))
    return "".join(parts)


_INT_CODES = {8: "b", 16: "h", 32: "i", 64: "q"}


def compile_record_format(fmt: str, layout, full: int, trailer: str = ""):
    """A function ``(buffer, offset) -> str``: the text of a printf record
    whose arguments (``layout``, a sema TupleType) start at ``offset``,
    made by one struct unpack and one %-format, with no per-argument
    Python code but for strings; None when a value needs more than that
    (anything but plain integers and strings, a conversion that is not in
    _FAST_CONVS, a signed value printed unsigned from a narrower type).
    As the session's printf_parts, a string of ``full`` bytes (one short of
    max_strlen: its NUL made it full) gets ``trailer``.

    An integer slot is read with the struct code that gives what
    render() prints: ``%d`` of a u32 with the 32-bit default length is
    the low 4 bytes as a signed int, ``%lu`` of a u32 its low 4 bytes
    unsigned."""
    from ..sema import types as T
    from .decode import _cstr, is_plain_int
    segments = parse_format(fmt)
    convs = [s for s in segments if isinstance(s, Conversion)]
    if len(convs) != len(layout.elems) or any(c.conv not in _FAST_CONVS for c in convs):
        return None
    codes, strings, pos = ["<"], [], 0
    for i, (c, t, off) in enumerate(zip(convs, layout.elems, layout.offsets)):
        if isinstance(t, T.StringType):
            if c.conv != "s":
                return None
            code, size = f"{t.length}s", t.length
            strings.append((i, t.length >= full))
        elif is_plain_int(t) and not isinstance(t, T.BoolType) and c.conv != "s":
            b, conv_bits = getattr(t, "bits", 64), _LENGTH_BITS.get(c.length, 64)
            if b not in _INT_CODES:
                return None
            if conv_bits <= b:  # the low bits, as the conversion reads them
                size, signed = conv_bits, c.conv == "d"
            elif c.conv == "d" or not t.signed:  # the value fits as it is
                size, signed = b, t.signed
            else:
                return None
            code = _INT_CODES[size] if signed else _INT_CODES[size].upper()
            size //= 8
        else:
            return None
        if off < pos:
            return None
        codes.append(f"{off - pos}x" if off > pos else "")
        codes.append(code)
        pos = off + size
    unpack = struct.Struct("".join(codes)).unpack_from
    pyfmt = _python_format(segments)
    if not strings:
        return lambda buf, off: pyfmt % unpack(buf, off)

    def text(buf, off):
        vals = list(unpack(buf, off))
        for i, long in strings:
            raw = vals[i]
            if not long:
                vals[i] = _cstr(raw)
                continue
            n = raw.find(b"\0")
            n = len(raw) if n < 0 else n
            s = raw[:n].decode("utf-8", errors="surrogateescape")
            vals[i] = s + trailer if n == full else s
        return pyfmt % tuple(vals)
    return text
