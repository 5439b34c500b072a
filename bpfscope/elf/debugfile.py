"""Finding the separate debug file of an ELF file, the way gdb does.

Distributions strip their binaries and ship the symbol table and DWARF in
separate packages (Debian's -dbg/-dbgsym, Fedora's -debuginfo). The debug
file is an ELF file of the same layout (same section headers, same
addresses) whose code and data sections are SHT_NOBITS: it gives symbols
and DWARF, never the bytes or file offsets a uprobe needs, which still
come from the original file.

:func:`find_debug_file` takes a file of the same build-id given to
:func:`set_symbol_files` (trace's ``-s``) first; else it tries, in this
order, under each debug root (the ``--debuginfo`` directories given to
:func:`set_search_dirs` first, then ``/usr/lib/debug``):

1. the GNU build-id: ``ROOT/.build-id/xx/yyyy.debug`` (accepted only when
   its own build-id note is the same);
2. ``.gnu_debuglink`` (a file name and the CRC-32 of that file): next to
   the file, in ``.debug/`` beside it, in ``ROOT/<dir of the file>/`` and
   in ``ROOT/`` itself (accepted only when the CRC-32 matches);
3. ``ROOT/<path of the file>`` and ``ROOT/<path>.debug`` (accepted when
   its build-id, if both files have one, is the same).

Split DWARF (gcc -gsplit-dwarf) keeps a skeleton unit in the binary and
the rest in a ``.dwo`` per compilation unit, or all of them in one
``.dwp`` package: :func:`dwo_candidates` and :func:`dwp_candidates` say
where those are looked for.

DWARF that dwz moved to a supplementary file shared by several binaries
(Debian's ``/usr/lib/debug/.dwz/...``) is found by :func:`find_alt_file`.

Without a debug file, a stripped file's MiniDebugInfo (``.gnu_debugdata``,
an xz-compressed ELF file of symbols) gives its symbol table
(:func:`mini_debug_symbols`).

A file opened through ``/proc/PID/root/...`` (a process in another mount
namespace) is looked up under that root's ``/usr/lib/debug`` too. Results
are cached per file identity and search list, CRCs per debug file.
"""

from __future__ import annotations

import os
import re
import struct
import zlib

from .reader import ElfError, ElfFile

DEFAULT_ROOT = "/usr/lib/debug"

_extra: tuple[str, ...] = ()
_symfiles: dict[str, str] = {}      # build-id -> a file with its symbols (set_symbol_files)
_found: dict[tuple, str | None] = {}
_crcs: dict[tuple, int] = {}
_ROOTED = re.compile(r"^/proc/(?:\d+|self)/root(?=/)")


def set_search_dirs(dirs) -> None:
    """Directories searched before /usr/lib/debug (``--debuginfo DIR``),
    with the same layouts under them."""
    global _extra
    _extra = tuple(os.path.abspath(d) for d in dirs)


def set_symbol_files(paths) -> dict[str, str]:
    """Files whose symbols serve any file of the same build-id (bcc
    trace's ``-s``: an unstripped copy of a stripped program), looked at
    before the debug roots. Returns {build-id: path}; raises ElfError
    naming a file that is no ELF file or has no build-id."""
    global _symfiles
    found = {}
    for path in paths:
        with ElfFile(path) as e:
            if not e.build_id:
                raise ElfError(f"{path}: has no build-id to match a binary by")
            found[e.build_id] = os.path.abspath(path)
    _symfiles = found
    return found


def search_dirs() -> tuple[str, ...]:
    """The ``--debuginfo`` directories in force."""
    return _extra


def debuglink(elf: ElfFile) -> tuple[str, int] | None:
    """(file name, CRC-32) from elf's ``.gnu_debuglink``, or None."""
    sec = elf.section(".gnu_debuglink")
    if sec is None:
        return None
    data = elf.section_data(sec)
    end = data.find(b"\0")
    if end <= 0:
        return None
    crc_at = (end + 4) & ~3
    if crc_at + 4 > len(data):
        return None
    name = data[:end].decode("utf-8", "surrogateescape")
    if "/" in name:
        name = os.path.basename(name)   # a name, never a path to follow
    return name, struct.unpack_from("<I", data, crc_at)[0]


def file_crc32(path: str) -> int | None:
    """The CRC-32 (zlib's, as .gnu_debuglink has it) of a whole file."""
    try:
        st = os.stat(path)
        key = (path, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        if key in _crcs:
            return _crcs[key]
        crc = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
    except OSError:
        return None
    _crcs[key] = crc
    return crc


def _roots(prefix: str) -> list[str]:
    roots = list(_extra)
    if prefix:
        roots.append(prefix + DEFAULT_ROOT)
    roots.append(DEFAULT_ROOT)
    return roots


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _build_id_of(path: str) -> str | None:
    try:
        with ElfFile(path) as e:
            return e.build_id
    except ElfError:
        return None


def candidates(elf: ElfFile) -> list[tuple[str, str]]:
    """(path, how) for every place the debug file of elf may be, in
    search order; ``how`` is 'build-id', 'debuglink' or 'path'."""
    path = os.path.abspath(elf.path)
    m = _ROOTED.match(path)
    prefix, inner = (path[:m.end()], path[m.end():]) if m else ("", path)
    roots = _roots(prefix)
    out: list[tuple[str, str]] = []
    bid = elf.build_id
    if bid and len(bid) > 2:
        out += [(os.path.join(r, ".build-id", bid[:2], bid[2:] + ".debug"), "build-id")
                for r in roots]
    link = debuglink(elf)
    # the file as named and as its symbolic links resolve (/lib -> usr/lib);
    # inside another root, /proc/PID/root resolves to the host's view: as named
    paths = [inner] if prefix else list(dict.fromkeys((path, os.path.realpath(path))))
    dirs = list(dict.fromkeys(os.path.dirname(p) for p in paths))
    if link is not None:
        name = link[0]
        for d in dirs:
            out.append((prefix + os.path.join(d, name), "debuglink"))
            out.append((prefix + os.path.join(d, ".debug", name), "debuglink"))
        for r in roots:
            for d in dirs:
                out.append((r + os.path.join(d, name), "debuglink"))
            out.append((os.path.join(r, name), "debuglink"))
    for r in roots:
        for p in paths:
            out += [(r + p, "path"), (r + p + ".debug", "path")]
    seen, uniq = set(), []
    for c in out:
        if c[0] not in seen:
            seen.add(c[0])
            uniq.append(c)
    return uniq


def find_debug_file(elf: ElfFile) -> str | None:
    """The path of elf's separate debug file, or None (see the module
    docstring for where it is looked for and how it is checked)."""
    try:
        st = os.stat(elf.path)
        ident = (st.st_dev, st.st_ino, st.st_mtime_ns)
    except OSError:
        ident = ()
    key = (elf.path, ident, _extra, tuple(_symfiles.items()))
    if key in _found:
        return _found[key]
    bid = elf.build_id
    given = _symfiles.get(bid) if bid else None
    if given is not None and not _same_file(given, elf.path):
        _found[key] = given
        return given
    link = None
    hit = None
    for cand, how in candidates(elf):
        if not os.path.isfile(cand) or _same_file(cand, elf.path):
            continue
        if how == "debuglink":
            if link is None:
                link = debuglink(elf)
            if file_crc32(cand) != link[1]:
                continue
        else:
            other = _build_id_of(cand)
            if how == "build-id" and other != bid:
                continue
            if how == "path" and bid and other and other != bid:
                continue
            if other is None and how == "path":
                try:
                    ElfFile(cand).close()
                except ElfError:
                    continue
        hit = cand
        break
    _found[key] = hit
    return hit


def mini_debug_symbols(elf: ElfFile) -> list:
    """The .symtab of elf's MiniDebugInfo (``.gnu_debugdata``: an
    xz-compressed ELF file holding the symbols of a stripped binary, as
    Fedora ships them), or [] if it has none that can be read."""
    sec = elf.section(".gnu_debugdata")
    if sec is None:
        return []
    import lzma
    try:
        image = lzma.decompress(elf.section_data(sec))
    except (lzma.LZMAError, ElfError):
        return []
    try:
        fd = os.memfd_create("bpfscope-minidebuginfo")
    except (OSError, AttributeError):
        return []
    try:
        os.write(fd, image)
        with ElfFile(f"/proc/self/fd/{fd}") as mini:
            return mini.symbols(".symtab")
    except (OSError, ElfError):
        return []
    finally:
        os.close(fd)


def altlink(elf: ElfFile) -> tuple[str, str] | None:
    """(file name, build-id in hex) of the supplementary file dwz moved
    elf's shared DWARF to: ``.gnu_debugaltlink``, or DWARF 5's
    ``.debug_sup``; None if there is none."""
    sec = elf.section(".gnu_debugaltlink")
    if sec is not None:
        data = elf.section_data(sec)
        end = data.find(b"\0")
        if end <= 0:
            return None
        return data[:end].decode("utf-8", "surrogateescape"), data[end + 1:].hex()
    sec = elf.section(".debug_sup")
    if sec is None:
        return None
    data = elf.section_data(sec)
    if len(data) < 4 or data[2] != 0:  # 0: this file uses a supplement
        return None
    end = data.find(b"\0", 3)
    if end <= 3:
        return None
    n, p, shift = 0, end + 1, 0
    while p < len(data):        # the checksum's length (ULEB128)
        b = data[p]
        p += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    return data[3:end].decode("utf-8", "surrogateescape"), data[p:p + n].hex()


def find_alt_file(elf: ElfFile) -> str | None:
    """The dwz supplementary file of elf (see :func:`altlink`): by its name
    (absolute, or beside elf), by its build-id under the debug roots, by
    its base name in the ``--debuginfo`` directories; accepted when its
    build-id is the one the link gives."""
    link = altlink(elf)
    if link is None:
        return None
    name, bid = link
    here = os.path.dirname(os.path.abspath(elf.path))
    cands = [name if os.path.isabs(name) else os.path.join(here, name)]
    if len(bid) > 2:
        cands += [os.path.join(r, ".build-id", bid[:2], bid[2:] + ".debug")
                  for r in _roots("")]
    cands += [os.path.join(d, os.path.basename(name)) for d in _extra]
    for cand in dict.fromkeys(cands):
        if os.path.isfile(cand) and (not bid or _build_id_of(cand) == bid):
            return cand
    return None


def forget() -> None:
    """Drop what was found (debug files were added or removed)."""
    _found.clear()
    _crcs.clear()


def dwo_candidates(dwo_name: str, comp_dir: str | None, binary: str) -> list[str]:
    """Where a split-DWARF unit's ``.dwo`` file may be, as gdb looks: its
    DW_AT_dwo_name as is (absolute) or under DW_AT_comp_dir, then by
    its base name beside the binary and in the ``--debuginfo``
    directories."""
    out = []
    if os.path.isabs(dwo_name):
        out.append(dwo_name)
    elif comp_dir:
        out.append(os.path.join(comp_dir, dwo_name))
    base = os.path.basename(dwo_name)
    out.append(os.path.join(os.path.dirname(os.path.abspath(binary)), base))
    out += [os.path.join(d, base) for d in _extra]
    return list(dict.fromkeys(out))


def dwp_candidates(binary: str, debug: str | None = None) -> list[str]:
    """Where the DWARF package (``.dwp``) of binary may be: ``BINARY.dwp``
    beside it (and beside its symbolic links' target), beside its debug
    file (``prog.debug`` -> ``prog.dwp``), and by that name in the
    ``--debuginfo`` directories."""
    path = os.path.abspath(binary)
    out = [path + ".dwp", os.path.realpath(path) + ".dwp"]
    if debug:
        out.append((debug[:-6] if debug.endswith(".debug") else debug) + ".dwp")
    out += [os.path.join(d, os.path.basename(path) + ".dwp") for d in _extra]
    return list(dict.fromkeys(out))
