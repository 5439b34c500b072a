"""Source lines from DWARF's line tables (``.debug_line``, versions 2 to 5).

Two questions are asked of them: which addresses a source line was
compiled to (``uprobe:./prog@file.c:22`` attaches there) and which file
and line an address belongs to (stack frames shown with ``@file.c:LINE``).
:class:`LineTable` runs every line-number program of the file once and
keeps the rows (address, file, line, is_stmt, end of sequence) sorted by
address.
"""

from __future__ import annotations

import array
import bisect
import os
import struct
from typing import NamedTuple

from . import dwarfcache
from .dwarf import DwarfError, _cstr, _sleb, _uleb, debug_file, section_bytes, unit_start
from .reader import ElfFile

# DW_LNCT_* content types and the forms a v5 entry format may use
_LNCT_PATH, _LNCT_DIR = 0x1, 0x2
_FORM_SIZES = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16}


class Row(NamedTuple):
    addr: int
    file: str
    line: int
    is_stmt: bool
    end: bool       # the first address past a sequence


class LineTable:
    """Every row of every line-number program of one file (its debug
    file's, when it has one), held as columns: addresses, lines, file
    numbers into ``files``, and flags (1: is_stmt, 2: end of sequence).
    :meth:`cached` keeps them on disk (:mod:`.dwarfcache`)."""

    def __init__(self, path: str, dpath: str | None | bool = False):
        """dpath: the debug file, when the caller knows it (None: none)."""
        if dpath is False:
            with ElfFile(path) as elf:
                dpath = debug_file(elf)
        self._set_columns([], {})
        if dpath is None:
            return
        with ElfFile(dpath) as elf:
            self.data = section_bytes(elf, ".debug_line")
            self.str = section_bytes(elf, ".debug_str")
            self.line_str = section_bytes(elf, ".debug_line_str")
        rows: list[Row] = []
        self._out = rows
        names: dict[int, list[str]] = {}
        self.file_names = names
        try:
            pos = 0
            while pos + 4 <= len(self.data):
                pos = self._program(pos)
        except (IndexError, struct.error, ValueError, KeyError) as e:
            raise DwarfError(f"{dpath}: malformed DWARF in .debug_line ({e})") from None
        self.data = self.str = self.line_str = b""
        del self._out
        rows.sort(key=lambda r: (r.addr, not r.end))
        self._set_columns(rows, names)

    def _set_columns(self, rows: list[Row], file_names: dict[int, list[str]]) -> None:
        # each program's file names by its offset in .debug_line (a unit's
        # DW_AT_stmt_list): what DW_AT_call_file numbers
        self.file_names = file_names
        number: dict[str, int] = {}
        self.files: list[str] = []
        for r in rows:
            if r.file not in number:
                number[r.file] = len(self.files)
                self.files.append(r.file)
        self._addrs = array.array("Q", [r.addr for r in rows])
        self._lines = array.array("q", [r.line for r in rows])
        self._fnum = array.array("I", [number[r.file] for r in rows])
        self._flags = array.array("B", [r.is_stmt | r.end << 1 for r in rows])
        self._rows = rows or None

    @classmethod
    def cached(cls, path: str) -> "LineTable":
        """The line table of path, from the disk cache when it holds it."""
        with ElfFile(path) as elf:
            dpath = debug_file(elf)
        if dpath is None:
            return cls(path, None)

        def restore(state):
            t = cls.__new__(cls)
            t.file_names = {int(k): list(v) for k, v in state["file_names"].items()}
            t.files = list(state["files"])
            cols = []
            for code, key in (("Q", "addrs"), ("q", "lines"), ("I", "fnum"), ("B", "flags")):
                a = array.array(code)
                a.frombytes(state[key])
                cols.append(a)
            if len({len(a) for a in cols}) != 1 or max(cols[2], default=-1) >= len(t.files):
                raise ValueError("columns of different lengths")
            t._addrs, t._lines, t._fnum, t._flags = cols
            t._rows = None
            return t

        def dump(t):
            return {"file_names": t.file_names, "files": t.files,
                    "addrs": t._addrs.tobytes(), "lines": t._lines.tobytes(),
                    "fnum": t._fnum.tobytes(), "flags": t._flags.tobytes()}, []
        return dwarfcache.cached("lines", dpath, lambda: cls(path, dpath), dump, restore)

    @property
    def rows(self) -> list[Row]:
        if self._rows is None:
            files = self.files
            self._rows = [Row(a, files[f], ln, bool(fl & 1), bool(fl & 2)) for a, ln, f, fl
                          in zip(self._addrs, self._lines, self._fnum, self._flags)]
        return self._rows

    @property
    def has_lines(self) -> bool:
        return len(self._addrs) > 0

    def _numbers_of(self, file: str) -> set[int]:
        return {i for i, f in enumerate(self.files) if _same_file(f, file)}

    def addresses(self, file: str, line: int) -> list[int]:
        """The lowest address of each run of rows of ``file:line`` that
        starts a statement, in address order; ``file`` matches a file name
        by its last path components ('prog.c', 'src/prog.c')."""
        out, prev = [], None
        want = self._numbers_of(file)
        for a, ln, f, fl in zip(self._addrs, self._lines, self._fnum, self._flags):
            end = fl & 2
            hit = not end and ln == line and fl & 1 and f in want
            if hit and prev is not True:
                out.append(a)
            prev = bool(hit) if not end else None
        return out

    def lines_of(self, file: str) -> set[int]:
        want = self._numbers_of(file)
        return {ln for ln, f, fl in zip(self._lines, self._fnum, self._flags)
                if not fl & 2 and f in want}

    def file_name(self, stmt_list: int, index: int) -> str | None:
        """File number ``index`` of the program at ``stmt_list``."""
        names = self.file_names.get(stmt_list)
        if names is None or not 0 <= index < len(names):
            return None
        return names[index] or None

    def at(self, addr: int) -> tuple[str, int] | None:
        """(file, line) of the code at ``addr``, or None outside every
        sequence."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0 or self._flags[i] & 2 or self._lines[i] == 0:
            return None
        return self.files[self._fnum[i]], self._lines[i]

    # -- one line-number program -------------------------------------------

    def _program(self, pos: int) -> int:
        d = self.data
        start = pos
        end, osz, version, pos = unit_start(d, pos)
        if not 2 <= version <= 5:
            return end
        if version >= 5:
            pos += 2                                   # address and segment selector sizes
        hlen = int.from_bytes(d[pos:pos + osz], "little")
        pos += osz
        prog = pos + hlen
        min_len = d[pos]
        pos += 1
        if version >= 4:
            pos += 1                                   # maximum operations per instruction
        default_stmt = bool(d[pos])
        line_base = struct.unpack_from("<b", d, pos + 1)[0]
        line_range, opcode_base = d[pos + 2], d[pos + 3]
        pos += 4
        lengths = list(d[pos:pos + opcode_base - 1])
        pos += opcode_base - 1
        if version >= 5:
            dirs, pos = self._entries(pos, osz)
            dirs = [e.get(_LNCT_PATH, "") for e in dirs]
            files, pos = self._entries(pos, osz)
            files = [_join(dirs, e.get(_LNCT_PATH, ""), e.get(_LNCT_DIR, 0)) for e in files]
        else:
            dirs = [""]
            while d[pos]:
                dirs.append(_cstr(d, pos))
                pos = d.index(b"\0", pos) + 1
            pos += 1
            files = [""]                               # file numbers start at 1
            while d[pos]:
                name = _cstr(d, pos)
                pos = d.index(b"\0", pos) + 1
                di, pos = _uleb(d, pos)
                _, pos = _uleb(d, pos)
                _, pos = _uleb(d, pos)
                files.append(_join(dirs, name, di))
        self.file_names[start] = files
        self._run(prog, end, files, min_len, default_stmt, line_base, line_range,
                  opcode_base, lengths)
        return end

    def _entries(self, pos: int, osz: int) -> tuple[list[dict], int]:
        """A DWARF 5 directory or file table: its entry format, then the
        entries, each {content type: value}."""
        d = self.data
        nfmt = d[pos]
        pos += 1
        fmt = []
        for _ in range(nfmt):
            ct, pos = _uleb(d, pos)
            form, pos = _uleb(d, pos)
            fmt.append((ct, form))
        count, pos = _uleb(d, pos)
        out = []
        for _ in range(count):
            e = {}
            for ct, form in fmt:
                if form == 0x08:
                    v, pos = _cstr(d, pos), d.index(b"\0", pos) + 1
                elif form in (0x0E, 0x1F):
                    off = int.from_bytes(d[pos:pos + osz], "little")
                    pos += osz
                    v = _cstr(self.line_str if form == 0x1F else self.str, off)
                elif form == 0x0F:
                    v, pos = _uleb(d, pos)
                elif form in _FORM_SIZES:
                    n = _FORM_SIZES[form]
                    v, pos = int.from_bytes(d[pos:pos + n], "little"), pos + n
                elif form == 0x09:
                    n, pos = _uleb(d, pos)
                    v, pos = None, pos + n
                else:
                    raise ValueError(f"unknown form {form:#x} in a line table header")
                e[ct] = v
            out.append(e)
        return out, pos

    def _run(self, pos, end, files, min_len, default_stmt, line_base, line_range,
             opcode_base, lengths) -> None:
        d, rows = self.data, self._out
        nfiles = len(files)

        def name(i: int) -> str:
            return files[i] if 0 <= i < nfiles else ""

        addr, file, line, stmt = 0, 1, 1, default_stmt
        while pos < end:
            op = d[pos]
            pos += 1
            if op >= opcode_base:                      # special: add both, emit a row
                adj = op - opcode_base
                addr += (adj // line_range) * min_len
                line += line_base + adj % line_range
                rows.append(Row(addr, name(file), line, stmt, False))
            elif op == 0:                              # extended
                n, pos = _uleb(d, pos)
                sub, body = d[pos], pos + 1
                pos += n
                if sub == 1:                           # end_sequence
                    rows.append(Row(addr, name(file), line, stmt, True))
                    addr, file, line, stmt = 0, 1, 1, default_stmt
                elif sub == 2:                         # set_address
                    addr = int.from_bytes(d[body:pos], "little")
            elif op == 1:                              # copy
                rows.append(Row(addr, name(file), line, stmt, False))
            elif op == 2:                              # advance_pc
                v, pos = _uleb(d, pos)
                addr += v * min_len
            elif op == 3:                              # advance_line
                v, pos = _sleb(d, pos)
                line += v
            elif op == 4:                              # set_file
                file, pos = _uleb(d, pos)
            elif op == 6:                              # negate_stmt
                stmt = not stmt
            elif op == 8:                              # const_add_pc
                addr += ((255 - opcode_base) // line_range) * min_len
            elif op == 9:                              # fixed_advance_pc
                addr += struct.unpack_from("<H", d, pos)[0]
                pos += 2
            else:                                      # set_column and the rest: skip
                for _ in range(lengths[op - 1]):
                    _, pos = _uleb(d, pos)


def _join(dirs: list[str], name: str, index: int) -> str:
    if os.path.isabs(name) or not 0 <= index < len(dirs) or not dirs[index]:
        return name
    return os.path.join(dirs[index], name)


def _same_file(path: str, wanted: str) -> bool:
    """'prog.c' matches '/src/prog.c'; 'src/prog.c' matches '/x/src/prog.c'."""
    if path == wanted:
        return True
    return path.endswith("/" + wanted.lstrip("./")) or os.path.basename(path) == wanted


def line_table(path: str) -> LineTable:
    """The (cached) line table of ``path``."""
    t = _TABLES.get(path)
    if t is None:
        t = _TABLES[path] = LineTable.cached(path)
    return t


_TABLES: dict[str, LineTable] = {}
