"""Call frame information (.eh_frame, .debug_frame): how to find a
function's caller at any instruction, without frame pointers.

For an address, :meth:`FrameTable.row_at` runs the CIE's initial
instructions and the FDE's up to that address and returns the row of the
table DWARF describes: how the canonical frame address (CFA) is computed
(a register plus an offset, or an expression) and where each callee-saved
register and the return address were saved. :func:`step` applies a row to
a frame's registers to give the caller's, reading saved values through a
callback (user space reads them from a copy of the traced thread's stack).
x86-64 numbering: 6 rbp, 7 rsp, 16 the return address.

Entries are indexed by their address ranges when the file is first asked;
each FDE's instructions are run only when an address in it is.
"""

from __future__ import annotations

import bisect
import struct
from typing import Callable, NamedTuple

from .dwarf import _sleb, _uleb, section_bytes
from .reader import ElfError, ElfFile

RBP, RSP, RA = 6, 7, 16
# rows kept per file before the cache starts over
ROW_CACHE = 1 << 16
CALLEE_SAVED = (3, 6, 12, 13, 14, 15)  # rbx, rbp, r12-r15


class CfiError(ElfError):
    """Call frame information this reader cannot follow."""


class Row(NamedTuple):
    """``cfa``: (register, offset) or ('expr', bytes). ``regs``: register
    -> ('offset', n): saved at CFA+n; ('val', n): its value is CFA+n;
    ('reg', r): held in register r; ('same',) / ('undefined',);
    ('expr', bytes) / ('val_expr', bytes)."""
    cfa: tuple
    regs: dict


class _Cie(NamedTuple):
    code_align: int
    data_align: int
    ra: int
    fde_enc: int
    has_aug: bool
    instructions: bytes


class _Fde(NamedTuple):
    start: int
    end: int
    cie: _Cie
    instructions: bytes


# DW_EH_PE_* pointer encodings
_OMIT = 0xFF
_FORMATS = {0x00: ("<Q", 8), 0x02: ("<H", 2), 0x03: ("<I", 4), 0x04: ("<Q", 8),
            0x0A: ("<h", 2), 0x0B: ("<i", 4), 0x0C: ("<q", 8)}


class FrameTable:
    """The FDEs of one ELF file's .eh_frame (else .debug_frame)."""

    def __init__(self, elf: ElfFile):
        self.fdes: list[_Fde] = []
        # whether the file has a section of either kind at all
        self.has_sections = False
        for name, eh in ((".eh_frame", True), (".debug_frame", False)):
            sec = elf.section(name)
            if sec is None or not sec.size:
                continue
            self.has_sections = True
            data = section_bytes(elf, name)
            try:
                self._read(data, sec.addr if eh else 0, eh)
            except (IndexError, struct.error, ValueError, KeyError) as e:
                raise CfiError(f"{elf.path}: malformed {name} ({e})") from None
            if self.fdes:
                break
        self.fdes.sort(key=lambda f: f.start)
        self._starts = [f.start for f in self.fdes]
        # pc -> its Row (None: no FDE), treated as read-only by callers
        self._rows: dict[int, Row | None] = {}

    def fde_at(self, pc: int) -> _Fde | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0 and pc < self.fdes[i].end:
            return self.fdes[i]
        return None

    def row_at(self, pc: int) -> Row | None:
        """The unwinding rules at ``pc`` (an address of the file), or None
        where no FDE covers it."""
        rows = self._rows
        if pc in rows:
            return rows[pc]
        fde = self.fde_at(pc)
        if fde is None:
            row = None
        else:
            cie = fde.cie
            init = _Machine(cie, fde.start)
            init.run(cie.instructions, None)
            m = _Machine(cie, fde.start, dict(init.regs), init.cfa, initial=dict(init.regs))
            m.run(fde.instructions, pc)
            row = Row(m.cfa, m.regs)
        # a profiler's samples hit the same few return addresses over and
        # over: running the FDE's program once per pc is most of a step
        if len(rows) >= ROW_CACHE:
            rows.clear()
        rows[pc] = row
        return row

    # -- the entries --------------------------------------------------------

    def _read(self, d: bytes, base: int, eh: bool) -> None:
        cies: dict[int, _Cie] = {}
        pos = 0
        while pos + 4 <= len(d):
            start = pos
            length = struct.unpack_from("<I", d, pos)[0]
            pos += 4
            if length == 0:
                if eh:
                    break                                  # the terminator
                continue
            wide = length == 0xFFFFFFFF
            if wide:
                length = struct.unpack_from("<Q", d, pos)[0]
                pos += 8
            end = pos + length
            id_pos = pos
            cie_id = int.from_bytes(d[pos:pos + (8 if wide else 4)], "little")
            pos += 8 if wide else 4
            is_cie = cie_id == 0 if eh else cie_id in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
            if is_cie:
                cies[start] = self._cie(d, pos, end, eh)
            else:
                cie_off = id_pos - cie_id if eh else cie_id
                cie = cies.get(cie_off)
                if cie is None:
                    cie = cies[cie_off] = self._cie_at(d, cie_off, eh)
                if cie is not None:
                    self._fde(d, pos, end, base, cie)
            pos = end

    def _cie_at(self, d: bytes, off: int, eh: bool) -> _Cie | None:
        length = struct.unpack_from("<I", d, off)[0]
        pos = off + 4
        if length == 0xFFFFFFFF:
            length = struct.unpack_from("<Q", d, pos)[0]
            pos += 8
            return self._cie(d, pos + 8, pos + length, eh)
        return self._cie(d, pos + 4, pos + length, eh)

    def _cie(self, d: bytes, pos: int, end: int, eh: bool) -> _Cie:
        version = d[pos]
        pos += 1
        aug_end = d.index(b"\0", pos)
        aug = d[pos:aug_end].decode("ascii", "replace")
        pos = aug_end + 1
        if "eh" in aug:
            pos += 8
        if version >= 4:
            pos += 2                                       # address and segment sizes
        code_align, pos = _uleb(d, pos)
        data_align, pos = _sleb(d, pos)
        if version == 1:
            ra, pos = d[pos], pos + 1
        else:
            ra, pos = _uleb(d, pos)
        fde_enc = 0x00                                   # absolute, address-sized
        if aug.startswith("z"):
            n, pos = _uleb(d, pos)
            body, pos_after = pos, pos + n
            for ch in aug[1:]:
                if ch == "R":
                    fde_enc = d[body]
                    body += 1
                elif ch == "L":
                    body += 1
                elif ch == "P":
                    enc = d[body]
                    body += 1
                    body += self._ptr_size(d, body, enc)
            pos = pos_after
        return _Cie(code_align, data_align, ra, fde_enc, aug.startswith("z"),
                    bytes(d[pos:end]))

    def _fde(self, d: bytes, pos: int, end: int, base: int, cie: _Cie) -> None:
        start, pos = self._pointer(d, pos, cie.fde_enc, base)
        size, pos = self._pointer(d, pos, cie.fde_enc & 0x0F, base)
        if cie.has_aug:
            n, pos = _uleb(d, pos)
            pos += n
        if size:
            self.fdes.append(_Fde(start, start + size, cie, bytes(d[pos:end])))

    @staticmethod
    def _ptr_size(d: bytes, pos: int, enc: int) -> int:
        fmt = enc & 0x0F
        if fmt in _FORMATS:
            return _FORMATS[fmt][1]
        if fmt in (0x01, 0x09):
            return _uleb(d, pos)[1] - pos
        raise ValueError(f"pointer encoding {enc:#x}")

    @staticmethod
    def _pointer(d: bytes, pos: int, enc: int, base: int) -> tuple[int, int]:
        fmt, app = enc & 0x0F, enc & 0x70
        if fmt == 0x01:
            v, new = _uleb(d, pos)
        elif fmt == 0x09:
            v, new = _sleb(d, pos)
        else:
            f, n = _FORMATS[fmt]
            v, new = struct.unpack_from(f, d, pos)[0], pos + n
        if app == 0x10:                                    # pcrel
            v += base + pos
        elif app not in (0x00,):
            raise ValueError(f"pointer application {app:#x}")
        return v & 0xFFFFFFFFFFFFFFFF, new


class _Machine:
    """Runs call frame instructions up to an address."""

    def __init__(self, cie: _Cie, loc: int, regs: dict | None = None,
                 cfa: tuple = (RSP, 8), initial: dict | None = None):
        self.cie, self.loc = cie, loc
        self.regs = regs if regs is not None else {}
        self.cfa = cfa
        self.initial = initial or {}
        self.saved: list[tuple] = []

    def run(self, ins: bytes, until: int | None) -> None:
        c, p, n = self.cie, 0, len(ins)
        while p < n:
            op = ins[p]
            p += 1
            hi, lo = op & 0xC0, op & 0x3F
            if hi == 0x40:                                 # advance_loc
                if self._advance(lo * c.code_align, until):
                    return
                continue
            if hi == 0x80:                                 # offset
                off, p = _uleb(ins, p)
                self.regs[lo] = ("offset", off * c.data_align)
                continue
            if hi == 0xC0:                                 # restore
                self._restore(lo)
                continue
            if op == 0x00:
                continue
            if op == 0x01:                                 # set_loc
                new = int.from_bytes(ins[p:p + 8], "little")
                p += 8
                if until is not None and new > until:
                    return
                self.loc = new
            elif op in (0x02, 0x03, 0x04):                 # advance_loc1/2/4
                size = {0x02: 1, 0x03: 2, 0x04: 4}[op]
                delta = int.from_bytes(ins[p:p + size], "little")
                p += size
                if self._advance(delta * c.code_align, until):
                    return
            elif op in (0x05, 0x11, 0x14, 0x15):           # offset_extended[_sf], val_offset[_sf]
                reg, p = _uleb(ins, p)
                off, p = (_sleb if op in (0x11, 0x15) else _uleb)(ins, p)
                self.regs[reg] = ("val" if op >= 0x14 else "offset", off * c.data_align)
            elif op == 0x06:                               # restore_extended
                reg, p = _uleb(ins, p)
                self._restore(reg)
            elif op in (0x07, 0x08):                       # undefined, same_value
                reg, p = _uleb(ins, p)
                self.regs[reg] = ("undefined",) if op == 0x07 else ("same",)
            elif op == 0x09:                               # register
                reg, p = _uleb(ins, p)
                other, p = _uleb(ins, p)
                self.regs[reg] = ("reg", other)
            elif op == 0x0A:                               # remember_state
                self.saved.append((dict(self.regs), self.cfa))
            elif op == 0x0B:                               # restore_state
                if self.saved:
                    self.regs, self.cfa = self.saved.pop()
            elif op in (0x0C, 0x12):                       # def_cfa[_sf]
                reg, p = _uleb(ins, p)
                off, p = (_sleb if op == 0x12 else _uleb)(ins, p)
                self.cfa = (reg, off * c.data_align if op == 0x12 else off)
            elif op == 0x0D:                               # def_cfa_register
                reg, p = _uleb(ins, p)
                self.cfa = (reg, self.cfa[1] if self.cfa[0] != "expr" else 0)
            elif op in (0x0E, 0x13):                       # def_cfa_offset[_sf]
                off, p = (_sleb if op == 0x13 else _uleb)(ins, p)
                if self.cfa[0] != "expr":
                    self.cfa = (self.cfa[0], off * c.data_align if op == 0x13 else off)
            elif op == 0x0F:                               # def_cfa_expression
                n_, p = _uleb(ins, p)
                self.cfa = ("expr", bytes(ins[p:p + n_]))
                p += n_
            elif op in (0x10, 0x16):                       # expression, val_expression
                reg, p = _uleb(ins, p)
                n_, p = _uleb(ins, p)
                self.regs[reg] = ("expr" if op == 0x10 else "val_expr", bytes(ins[p:p + n_]))
                p += n_
            elif op == 0x2E:                               # GNU_args_size
                _, p = _uleb(ins, p)
            elif op == 0x2F:                               # GNU_negative_offset_extended
                reg, p = _uleb(ins, p)
                off, p = _uleb(ins, p)
                self.regs[reg] = ("offset", -off * c.data_align)
            else:
                raise CfiError(f"call frame instruction {op:#x}")

    def _advance(self, delta: int, until: int | None) -> bool:
        """Move on; True when that passes ``until`` (the row is done)."""
        if until is not None and self.loc + delta > until:
            return True
        self.loc += delta
        return False

    def _restore(self, reg: int) -> None:
        if reg in self.initial:
            self.regs[reg] = self.initial[reg]
        else:
            self.regs.pop(reg, None)


def evaluate(expr: bytes, regs: dict[int, int], read: Callable[[int], int | None],
             push: int | None = None) -> int | None:
    """A DWARF expression of the forms unwinding meets (register-relative
    arithmetic, comparisons, dereferences); None when it needs a register
    or memory that is not known, or an operation this evaluator lacks."""
    st: list[int] = [] if push is None else [push]
    p, n = 0, len(expr)
    mask = 0xFFFFFFFFFFFFFFFF
    while p < n:
        op = expr[p]
        p += 1
        if 0x30 <= op <= 0x4F:                             # lit0..31
            st.append(op - 0x30)
        elif 0x70 <= op <= 0x8F:                           # breg0..31
            off, p = _sleb(expr, p)
            r = regs.get(op - 0x70)
            if r is None:
                return None
            st.append((r + off) & mask)
        elif op in (0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F):
            size = {0x08: 1, 0x09: 1, 0x0A: 2, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8, 0x0F: 8}[op]
            st.append(int.from_bytes(expr[p:p + size], "little", signed=op in (0x09, 0x0B, 0x0D, 0x0F)) & mask)
            p += size
        elif op == 0x10:
            v, p = _uleb(expr, p)
            st.append(v & mask)
        elif op == 0x11:
            v, p = _sleb(expr, p)
            st.append(v & mask)
        elif op == 0x12:
            st.append(st[-1])
        elif op == 0x13:
            st.pop()
        elif op == 0x06:                                   # deref
            v = read(st.pop())
            if v is None:
                return None
            st.append(v)
        elif op == 0x23:                                   # plus_uconst
            v, p = _uleb(expr, p)
            st.append((st.pop() + v) & mask)
        elif op in _BINARY:
            b, a = st.pop(), st.pop()
            st.append(_BINARY[op](a, b) & mask)
        else:
            return None
    return st[-1] if st else None


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


_BINARY = {
    0x1A: lambda a, b: a & b, 0x1C: lambda a, b: a - b, 0x21: lambda a, b: a | b,
    0x22: lambda a, b: a + b, 0x24: lambda a, b: a << (b & 63), 0x25: lambda a, b: a >> (b & 63),
    0x1E: lambda a, b: a * b,
    0x29: lambda a, b: int(a == b), 0x2E: lambda a, b: int(a != b),
    0x2A: lambda a, b: int(_signed(a) >= _signed(b)), 0x2B: lambda a, b: int(_signed(a) > _signed(b)),
    0x2C: lambda a, b: int(_signed(a) <= _signed(b)), 0x2D: lambda a, b: int(_signed(a) < _signed(b)),
}


def step(row: Row, regs: dict[int, int], read: Callable[[int], int | None]) -> dict[int, int] | None:
    """The caller's registers from this frame's (``regs``: DWARF number ->
    value, RA standing for the instruction pointer), or None when the
    rules end the stack (the return address undefined) or need what is
    not known."""
    if row.cfa[0] == "expr":
        cfa = evaluate(row.cfa[1], regs, read)
    else:
        base = regs.get(row.cfa[0])
        cfa = None if base is None else (base + row.cfa[1]) & 0xFFFFFFFFFFFFFFFF
    if cfa is None:
        return None
    out = {r: v for r, v in regs.items() if r in CALLEE_SAVED}
    for reg, rule in row.regs.items():
        kind = rule[0]
        if kind == "offset":
            v = read(cfa + rule[1])
        elif kind == "val":
            v = cfa + rule[1]
        elif kind == "reg":
            v = regs.get(rule[1])
        elif kind == "same":
            v = regs.get(reg)
        elif kind == "expr":
            a = evaluate(rule[1], regs, read, push=cfa)
            v = None if a is None else read(a)
        elif kind == "val_expr":
            v = evaluate(rule[1], regs, read, push=cfa)
        else:
            v = None
        if v is None:
            out.pop(reg, None)
        else:
            out[reg] = v
    if RA not in row.regs or row.regs[RA][0] == "undefined" or RA not in out:
        return None
    out[RSP] = cfa
    return out


def frame_table(elf: ElfFile) -> FrameTable:
    key = elf.path
    t = _TABLES.get(key)
    if t is None:
        t = _TABLES[key] = FrameTable(elf)
    return t


_TABLES: dict[str, FrameTable] = {}
