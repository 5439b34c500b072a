"""What tracefs says about kernel tracepoints: where it is, which exist, their layout.

The tracepoint provider needs three things from tracefs, all plain text:
the list of events (``available_events``, one ``category:name`` a line), the
numeric id of one event (``events/<cat>/<name>/id``, which perf_event_open
takes as ``config``), and the record layout (``events/<cat>/<name>/format``),
which tells codegen where ``args.<field>`` lives in the context the BPF
program receives and how to read it.

Wildcards follow bpftrace: only ``*`` is special, and it matches any run of
characters.  bpftrace has no ``?`` or ``{a,b}`` in probe names, so those
characters match themselves here.

Nothing here needs BPF; the listing functions also back ``-l``/``-lv``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
from dataclasses import dataclass, field as dc_field

from bpfscope.errors import KernelError, SemanticError

TRACEFS_PATH = "/sys/kernel/tracing"
DEBUGFS_TRACING_PATH = "/sys/kernel/debug/tracing"

# Element types whose fixed arrays bpftrace prints as strings; u8/unsigned
# char arrays (IP addresses, hashes) stay byte arrays.
_CHAR_TYPES = frozenset({"char", "const char", "signed char"})

_INT_SIZES = {
    "char": 1, "signed char": 1, "unsigned char": 1, "u8": 1, "__u8": 1,
    "s8": 1, "__s8": 1, "bool": 1, "_Bool": 1,
    "short": 2, "unsigned short": 2, "u16": 2, "__u16": 2, "s16": 2,
    "__s16": 2, "__be16": 2, "__le16": 2,
    "int": 4, "unsigned int": 4, "u32": 4, "__u32": 4, "s32": 4, "__s32": 4,
    "__be32": 4, "__le32": 4, "pid_t": 4,
    "long": 8, "unsigned long": 8, "u64": 8, "__u64": 8, "s64": 8,
    "__s64": 8, "long long": 8, "unsigned long long": 8,
}


# --------------------------------------------------------------------------
# Locating tracefs


def _try_mount(path: str) -> str | None:
    """Mount tracefs on ``path``; return None on success, else the reason."""
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
    except OSError as e:
        return f"cannot load libc: {e}"
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_void_p]
    libc.mount.restype = ctypes.c_int
    if libc.mount(b"nodev", path.encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        return f"mount {path}: {os.strerror(err)}"
    return None


@functools.cache
def tracefs_root() -> str:
    """The tracefs directory, mounting tracefs at /sys/kernel/tracing if needed."""
    if os.path.isdir(os.path.join(TRACEFS_PATH, "events")):
        return TRACEFS_PATH
    reason = "no tracefs directory at " + TRACEFS_PATH
    if os.path.isdir(TRACEFS_PATH):
        reason = _try_mount(TRACEFS_PATH)
        if reason is None:
            if os.path.isdir(os.path.join(TRACEFS_PATH, "events")):
                return TRACEFS_PATH
            reason = f"mounted {TRACEFS_PATH} but it has no events/"
    # Kernels before 4.1 only expose tracing through debugfs.
    if os.path.isdir(os.path.join(DEBUGFS_TRACING_PATH, "events")):
        return DEBUGFS_TRACING_PATH
    raise KernelError(
        f"tracefs is not mounted and could not be mounted: {reason}")


def _events_dir() -> str:
    return os.path.join(tracefs_root(), "events")


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except PermissionError as e:
        raise KernelError(f"cannot read {path}: {e.strerror} "
                          "(tracefs needs root or CAP_SYS_ADMIN)") from None


# --------------------------------------------------------------------------
# Wildcards


def has_wildcard(text: str) -> bool:
    return "*" in text


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")),
                      re.DOTALL)


def glob_match(pattern: str, text: str) -> bool:
    """True if ``text`` matches ``pattern``, where only ``*`` is a wildcard.

    bpftrace finds each ``*``-separated piece at its leftmost occurrence and
    so misses some matches (``*at`` fails on ``newfstatat``); this is a full
    glob match instead, which agrees with bpftrace wherever bpftrace is right.
    """
    if "*" not in pattern:
        return pattern == text
    return _glob_regex(pattern).fullmatch(text) is not None


# --------------------------------------------------------------------------
# Listing


def _valid_component(part: str) -> bool:
    # Names come from user scripts and become paths: keep them inside events/.
    return bool(part) and "/" not in part and part not in (".", "..") \
        and "\0" not in part


def _all_events() -> list[str]:
    """Every ``category:name`` tracefs knows, in file order (not sorted)."""
    root = tracefs_root()
    avail = os.path.join(root, "available_events")
    try:
        text = _read_text(avail)
    except FileNotFoundError:
        text = None
    if text is not None:
        return [ln.strip() for ln in text.splitlines()
                if ":" in ln and ln.strip()]
    # Without available_events, an event is a directory holding an id file.
    out = []
    events = os.path.join(root, "events")
    try:
        cats = os.listdir(events)
    except OSError as e:
        raise KernelError(f"cannot read {events}: {e.strerror}") from None
    for cat in cats:
        cat_dir = os.path.join(events, cat)
        if not os.path.isdir(cat_dir):
            continue
        try:
            names = os.listdir(cat_dir)
        except OSError:
            continue
        for name in names:
            if os.path.isfile(os.path.join(cat_dir, name, "id")):
                out.append(f"{cat}:{name}")
    return out


def list_tracepoints(pattern: str | None = None) -> list[str]:
    """Sorted ``category:name`` of every tracepoint matching ``pattern``.

    ``pattern`` is matched against the whole ``category:name``; None lists all.
    Not cached, because kprobe/uprobe events come and go.
    """
    events = _all_events()
    if pattern is not None:
        events = [e for e in events if glob_match(pattern, e)]
    # bpftrace keeps matches in a std::set<std::string>: byte order, no dups.
    return sorted(set(events))


def expand(category_glob: str, name_glob: str) -> list[tuple[str, str]]:
    """The (category, name) pairs matching both globs, sorted."""
    if "*" not in category_glob and "*" not in name_glob \
            and tracepoint_exists(category_glob, name_glob):
        # one event named in full: its directory says it exists, without
        # reading the list of every event (about 10 ms a probe)
        return [(category_glob, name_glob)]
    out = set()
    for ev in _all_events():
        cat, _, name = ev.partition(":")
        if glob_match(category_glob, cat) and glob_match(name_glob, name):
            out.add((cat, name))
    return sorted(out)


def _event_dir(category: str, name: str) -> str:
    if not (_valid_component(category) and _valid_component(name)):
        raise SemanticError(f"tracepoint not found: {category}:{name}")
    return os.path.join(_events_dir(), category, name)


def tracepoint_exists(category: str, name: str) -> bool:
    try:
        return os.path.isfile(os.path.join(_event_dir(category, name), "id"))
    except SemanticError:
        return False


def tracepoint_id(category: str, name: str) -> int:
    """The event id perf_event_open wants as ``config`` for PERF_TYPE_TRACEPOINT."""
    path = os.path.join(_event_dir(category, name), "id")
    try:
        text = _read_text(path)
    except (FileNotFoundError, NotADirectoryError):
        raise SemanticError(
            f"tracepoint not found: {category}:{name}") from None
    try:
        return int(text.strip())
    except ValueError:
        raise KernelError(f"unexpected contents in {path}: {text!r}") from None


# --------------------------------------------------------------------------
# Formats


@dataclass
class Field:
    """One field of a tracepoint record, as the format file declares it.

    ``c_type`` is the declared type without the name, array suffix or
    ``__data_loc`` marker (``char`` for ``char comm[16]``, ``const char *``
    for a pointer).  A ``__data_loc`` field is a u32 whose low 16 bits are
    the data's offset in the record and high 16 bits its length; for
    ``__rel_loc`` the offset counts from the end of the field instead.
    """

    name: str
    c_type: str
    offset: int
    size: int
    signed: bool
    array_len: int | None = None
    data_loc: bool = False
    common: bool = False
    rel_loc: bool = False
    decl: str = dc_field(default="", compare=False)

    @property
    def kind(self) -> str:
        """'int', 'pointer', 'char_array', 'data_loc_string', 'array' or
        'data_loc_array' (a ``__data_loc`` of something other than char)."""
        if self.data_loc:
            return ("data_loc_string" if self.c_type in _CHAR_TYPES
                    else "data_loc_array")
        if self.array_len is not None:
            return "char_array" if self.c_type in _CHAR_TYPES else "array"
        if self.c_type.endswith("*"):
            return "pointer"
        return "int"

    @property
    def elem_size(self) -> int:
        """Size of one element for arrays; the field's size otherwise."""
        if self.array_len:
            return self.size // self.array_len
        if self.data_loc:
            return _INT_SIZES.get(self.c_type, 1)
        return self.size

    @property
    def declaration(self) -> str:
        """The declaration as the format file wrote it (what -lv prints)."""
        return self.decl or _rebuild_decl(self)


def _rebuild_decl(f: Field) -> str:
    if f.data_loc:
        marker = "__rel_loc" if f.rel_loc else "__data_loc"
        return f"{marker} {f.c_type}[] {f.name}"
    suffix = f"[{f.array_len}]" if f.array_len is not None else ""
    return f"{f.c_type} {f.name}{suffix}"


@dataclass
class Format:
    """A tracepoint's record layout."""

    category: str
    name: str
    id: int
    fields: list[Field]

    @property
    def args(self) -> list[Field]:
        """The fields a script sees as ``args``: all but the common_* header."""
        return [f for f in self.fields if not f.common]

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def record_size(self) -> int:
        """Bytes up to the end of the last fixed field (dynamic data follows)."""
        return max((f.offset + f.size for f in self.fields), default=0)


_FIELD_RE = re.compile(
    r"^\s*field:(?P<decl>[^;]*);\s*offset:(?P<offset>\d+);"
    r"\s*size:(?P<size>\d+);(?:\s*signed:(?P<signed>-?\d+);)?")
_DECL_RE = re.compile(
    r"^(?P<type>.*?)\s*(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<len>[^\]]*)\])?\s*$")


def _parse_decl(decl: str, size: int) -> tuple[str, str, int | None, bool, bool]:
    """Split a declaration into (name, c_type, array_len, data_loc, rel_loc)."""
    s = " ".join(decl.split())
    data_loc = rel_loc = False
    for marker in ("__data_loc ", "__rel_loc "):
        if s.startswith(marker):
            data_loc = True
            rel_loc = marker == "__rel_loc "
            s = s[len(marker):]
    m = _DECL_RE.match(s)
    if m is None:
        raise ValueError(f"cannot parse field declaration {decl!r}")
    c_type, name, length = m.group("type").strip(), m.group("name"), m.group("len")
    if data_loc:
        # "__data_loc char[] name": the [] belongs to the type.
        if c_type.endswith("[]"):
            c_type = c_type[:-2].rstrip()
        return name, c_type, None, True, rel_loc
    array_len = None
    if length is not None:
        if length.strip().isdigit():
            array_len = int(length)
        else:
            # Older kernels print the macro (char comm[TASK_COMM_LEN]); the
            # size and the element size still give the count.
            elem = _INT_SIZES.get(c_type, 1)
            array_len = size // elem
    return name, c_type, array_len, False, False


def parse_format_text(text: str, category: str, name: str,
                      id: int | None = None) -> Format:
    """Parse the contents of an events/<cat>/<name>/format file.

    Fields before the first blank line of the ``format:`` section are the
    common header (common_type, common_pid, ...); bpftrace's -lv skips them
    the same way.  ``id`` defaults to the file's own ``ID:`` line.
    """
    fields: list[Field] = []
    file_id = None
    in_common = True
    seen_field = False
    for line in text.splitlines():
        if line.startswith("ID:"):
            try:
                file_id = int(line[3:].strip())
            except ValueError:
                pass
            continue
        if not line.strip():
            if seen_field:
                in_common = False
            continue
        m = _FIELD_RE.match(line)
        if m is None:
            continue
        seen_field = True
        size = int(m.group("size"))
        fname, c_type, array_len, data_loc, rel_loc = _parse_decl(
            m.group("decl"), size)
        signed = m.group("signed")
        fields.append(Field(
            name=fname, c_type=c_type, offset=int(m.group("offset")),
            size=size,
            # Kernels before 2.6.32 lack "signed:"; pointers and arrays are
            # unsigned there, ints guessed from the type name.
            signed=(int(signed) != 0) if signed is not None else
            (not c_type.startswith(("unsigned", "u", "__u")) and
             not c_type.endswith("*")),
            array_len=array_len, data_loc=data_loc,
            common=in_common or fname.startswith("common_"),
            rel_loc=rel_loc, decl=m.group("decl").strip()))
    if id is None:
        id = file_id if file_id is not None else -1
    return Format(category=category, name=name, id=id, fields=fields)


@functools.lru_cache(maxsize=4096)
def _read_format_cached(category: str, name: str) -> Format:
    path = os.path.join(_event_dir(category, name), "format")
    try:
        text = _read_text(path)
    except (FileNotFoundError, NotADirectoryError):
        raise SemanticError(
            f"tracepoint not found: {category}:{name}") from None
    return parse_format_text(text, category, name)


def read_format(category: str, name: str) -> Format:
    """The parsed format of one tracepoint (cached per tracepoint)."""
    return _read_format_cached(category, name)


def clear_caches() -> None:
    """Forget the tracefs location and parsed formats (tests, remounts)."""
    tracefs_root.cache_clear()
    _read_format_cached.cache_clear()


# --------------------------------------------------------------------------
# -l / -lv


def _listing_glob(pattern: str | None) -> str:
    """Turn what follows ``tracepoint:`` in a -l argument into a glob over
    ``category:name`` (the provider strips its own name or alias).

    Like bpftrace, ``tracepoint:foo`` (one part) means any category:
    people usually search by event name.
    """
    if not pattern or pattern == "*":
        return "*:*"
    parts = pattern.split(":")
    if len(parts) == 1:  # -l sched_switch, -l '*:sched_switch': any category
        parts.insert(0, "*")
    if len(parts) != 2:
        raise SemanticError("tracepoint probe type requires 2 arguments, "
                            f"found {len(parts)}")
    return ":".join(parts)


def format_listing(pattern: str | None = None, verbose: bool = False) -> str:
    """What ``bpftrace -l``/``-lv`` prints for tracepoints matching
    ``pattern``, the part after ``tracepoint:`` (None: every one).

    ``pattern`` may carry the ``tracepoint:`` (or ``t:``) prefix.  Each match
    is a ``tracepoint:cat:name`` line; with ``verbose``, each non-common field
    follows on its own line, indented four spaces, declared as in the format
    file.  The result ends with a newline unless nothing matched.
    """
    lines = []
    for ev in list_tracepoints(_listing_glob(pattern)):
        lines.append("tracepoint:" + ev)
        if verbose:
            cat, _, name = ev.partition(":")
            try:
                fmt = read_format(cat, name)
            except SemanticError:
                # Raced with an event being removed; bpftrace prints no args.
                continue
            for f in fmt.args:
                lines.append("    " + f.declaration)
    return "".join(line + "\n" for line in lines)
