"""uprobe and uretprobe: user-space function entry and return.

Spec forms (bpftrace's), after the provider name::

    uprobe:/path/to/bin:func            a function symbol
    uprobe:/path/to/bin:func+16         a byte offset into it (not uretprobe)
    uprobe:/path/to/bin:0x4011a6        an address (decimal or 0x...)
    uprobe:/path/to/bin:read*           every function symbol the glob names
    uprobe:libc:malloc                  a library by short name
    uprobe:bash:readline                a program found in $PATH
    uprobe:./app:cpp:"ns::K::method"    C++ names, matched demangled
    uprobe:func                         with -p/-c: the traced process's program

The target path is made absolute; a name starting with "lib" is looked up
as a library first (in /proc/PID/maps when a pid is given, then
ld.so.cache), anything else without '/' in $PATH. A plain function name
that is not a symbol but is the demangled name (parameters dropped) of
exactly one C++ symbol means that symbol; several such symbols make an
error that lists them.

On a kernel with uprobe_multi links (Linux 6.6+, bpf.features) the
programs are loaded for them (expected_attach_type TRACE_UPROBE_MULTI):
the probes of one file and entry/return whose programs are the same code
(the session finds them, :meth:`Uprobe.group_key`) share one program and
one link holding all their checked offsets; any other probe gets a link
of its own offset. Closing a link removes its uprobes after one grace
period, where each perf event waits one. ``BPFSCOPE_NO_UPROBE_MULTI=1``
takes the older way: one perf event of the kernel's uprobe PMU per probe:
``config1`` points at the path, ``config2`` is the file offset of the
instruction (the symbol's virtual address mapped through its PT_LOAD
segment), the ``retprobe`` format bit marks return probes. Without a pid
the event is opened with pid=-1, cpu=0, which traces every process on every
CPU (the BPF program hangs off the uprobe, not off the CPU); with a pid it
is pid=PID, cpu=-1.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
from dataclasses import dataclass

from ..bpf import features, link, perf
from ..bpf.consts import AttachType
from ..elf import ElfError, ElfFile, SymbolTable, demangle, split_function_name, table_of
from ..elf import demangle as demangle_name
from ..elf.demangle import strip_params
from ..elf.dwarflines import line_table
from ..elf.symbols import FUNC_TYPES
from ..elf.ldcache import library_of_program, read_proc_maps, resolve_library
from ..errors import MissingProbe, SemanticError, warn
from ..sema.probes import USER_REGS, ExpandedProbe
from . import ifunc
from .dwarfargs import DebugArgs
from .inlined import check_function, describe_sites, inline_sites
from .perfattach import attach_to_perf_event
from .provider import Provider
from .specs import split_offset, to_uint
from .uprobesite import check_site, code_at, warn_once

PMU_DIR = "/sys/bus/event_source/devices/uprobe"
SUPPORTED_LANGS = ("cpp",)


@dataclass(frozen=True)
class UprobeTarget:
    """What attach needs: the file, the offset in it, entry or return, and
    the process to limit the probe to (None: every process)."""
    path: str
    offset: int
    retprobe: bool
    pid: int | None = None
    # For re-attaching when the file is replaced (attach.reattach): the
    # symbol and the offset into it ('' for an address probe: vaddr then),
    # the index of the inlined copy (-1: the symbol itself), and which
    # file the offset was resolved in. vaddr is where the probe sits,
    # sym_offset and ``requested`` where it was asked for (before
    # check_site moved it past hazardous entry instructions), ``movable``
    # and ``unsafe`` how check_site placed it: the new file is checked
    # the same way.
    symbol: str = ""
    sym_offset: int = 0
    vaddr: int = 0
    site: int = -1
    dev: int = 0
    ino: int = 0
    requested: int = 0
    movable: bool = True
    unsafe: bool = False
    # a probe without a symbol (an IFUNC's implementation, found through
    # this process's resolver): the code there, which the new file must repeat
    code: bytes = b""


# ------------------------------------------------------------ spec parsing

@dataclass
class Spec:
    target: str          # as written (maybe relative, a short name, or '')
    lang: str            # '' or 'cpp'
    func: str            # function name or glob ('' for an address)
    offset: int = 0      # func+offset
    address: int | None = None
    source: tuple[str, int] | None = None   # PATH@FILE:LINE: (FILE, LINE)


def parse_spec(ap, provider: str, options) -> Spec:
    parts = list(ap.parts[1:])
    pid = getattr(options, "pid", None)
    if pid is None:
        pid = getattr(options, "cmd", None)  # -c: its program is the target
    # An unquoted C++ name after the language keeps its '::':
    # uprobe:./app:cpp:ns::Klass::* is the function ns::Klass::*.
    for i in (0, 1):
        if len(parts) > i + 2 and parts[i] in SUPPORTED_LANGS:
            parts[i + 1:] = [":".join(parts[i + 1:])]
            break
    # With -p or -c the target may be left out: uprobe:func, uprobe:cpp:func.
    if pid is not None and (len(parts) == 1 or
                            (len(parts) == 2 and parts[0] in SUPPORTED_LANGS)):
        parts.insert(0, "")
    if len(parts) not in (2, 3):
        hint = ""
        if "::" in ":".join(parts[1:]):
            hint = ("; a C++ name with '::' must be quoted (\"ns::f\") or follow "
                    "cpp: (cpp:ns::f)")
        raise SemanticError(f"{provider} probe type requires 2 or 3 arguments, "
                            f"found {len(parts)}{hint}", ap.span)
    target, func = parts[0], parts[-1]
    lang = parts[1] if len(parts) == 3 else ""
    if lang and lang not in SUPPORTED_LANGS:
        raise SemanticError(f"unsupported language type: {lang}", ap.span)
    if not target and pid is None:
        raise SemanticError(f"{provider} should have a target", ap.span)
    if not func:
        raise SemanticError(f"{provider} should be attached to a function and/or address",
                            ap.span)
    spec = Spec(target, lang, func)
    if "@" in target and not lang and not os.path.exists(target):
        # uprobe:./prog@prog.c:22: the code of a source line
        spec.target, _, file = target.rpartition("@")
        if not file or not func.isdigit() or int(func) == 0:
            raise SemanticError(f"{provider}: a source location is FILE:LINE with a line "
                                f"number ('{file}:{func}')", ap.span)
        if provider == "uretprobe":
            raise SemanticError("uretprobes cannot be attached to a source line", ap.span)
        spec.func, spec.source = "", (file, int(func))
        return spec
    if "+" in func:
        spec.func, spec.offset = split_offset(func, provider, ap)
    else:
        addr = to_uint(func)
        if addr is not None:
            if "*" in target:
                raise SemanticError("Cannot use wildcards with absolute address", ap.span)
            spec.func, spec.address = "", addr
    return spec


# ------------------------------------------------------------ target files

def _is_exec_or_lib(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    if os.access(path, os.X_OK):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def in_process_view(path: str, pid: int | None) -> str:
    """``path`` as process ``pid`` sees it: through /proc/PID/root when the
    process lives in another mount namespace (a container) where the path
    is another file, or where only it has the path."""
    if pid is None or not path.startswith("/"):
        return path
    rooted = f"/proc/{pid}/root{path}"
    try:
        r = os.stat(rooted)
    except OSError:
        return path
    try:
        h = os.stat(path)
    except OSError:
        return rooted
    return path if (h.st_dev, h.st_ino) == (r.st_dev, r.st_ino) else rooted


_ROOTED = re.compile(r"/proc/\d+/root(?=/)")


def pid_exe(pid: int) -> str | None:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    if exe.endswith(" (deleted)"):
        exe = exe[:-len(" (deleted)")]
    return in_process_view(exe, pid)


def pid_files(pid: int) -> list[str]:
    """The ELF files process pid has mapped executable, in map order, as
    it sees them (in_process_view)."""
    try:
        maps = read_proc_maps(pid)
    except ElfError:
        return []
    out: list[str] = []
    for m in maps:
        if m.path.startswith("/") and m.executable:
            path = in_process_view(m.path, pid)
            if path not in out:
                out.append(path)
    return out


def shown_path(target: str, path: str) -> str | None:
    """A relative path written with a '/' names its probes as written
    (bpftrace 0.26: uprobe:./testprogs/prog:f); a file reached through
    /proc/PID/root by the path the process knows it by. The attach uses
    ``path``."""
    if "/" in target and not os.path.isabs(target):
        if "*" not in target:
            return target
        if not _ROOTED.match(path):
            # a glob's matches, named relative the way the glob was written
            rel = os.path.relpath(path)
            return "./" + rel if target.startswith("./") and not rel.startswith("..") else rel
    m = _ROOTED.match(path)
    return path[m.end():] if m else None


def glob_targets(target: str, pid: int | None) -> list[str]:
    """The executables and libraries a target with '*' names, sorted; with
    a pid, the files its process sees (through /proc/PID/root, each named
    as :func:`in_process_view` names it)."""
    import glob
    target = os.path.abspath(target)
    if pid is None:
        return sorted(p for p in glob.glob(target) if _is_exec_or_lib(p))
    root = f"/proc/{pid}/root"
    found = (in_process_view(p[len(root):], pid) for p in glob.glob(root + target))
    return sorted({p for p in found if _is_exec_or_lib(p)})


def resolve_target(target: str, pid: int | None, cmd: str | None = None) -> list[str]:
    """Absolute paths the written target names ([] if none). Left out, it
    is the -c program ``cmd`` or the executable of process ``pid``."""
    if not target:
        exe = cmd or (pid_exe(pid) if pid is not None else None)
        return [os.path.abspath(exe)] if exe else []
    if target == "*" and pid is not None:
        return pid_files(pid)  # every file the process runs code from
    if "*" in target:
        return glob_targets(target, pid)
    if "/" not in target:
        if target.startswith("lib"):
            # the -c program's own library (its RUNPATH) before the system's
            hit = (library_of_program(cmd, target) if cmd else None) or \
                resolve_library(target, pid)
            if hit:
                return [os.path.abspath(hit)]
        found = shutil.which(target)
        return [os.path.abspath(found)] if found else []
    path = in_process_view(os.path.abspath(target), pid)
    return [path] if _is_exec_or_lib(path) else []


# ------------------------------------------------------------ symbols

def symbols_of(path: str) -> SymbolTable:
    """The (cached) symbol table of path."""
    return table_of(path)


def _glob_rx(pattern: str) -> re.Pattern:
    # Only '*' is a wildcard: C++ names carry '[', ']' and '?' is rare but
    # literal in bpftrace too.
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.S)


def _cpp_forms(name: str, want_params: bool) -> str | None:
    if not name.startswith("_Z"):
        return None
    d = demangle(name)
    if d == name:
        return None
    return d if want_params else strip_params(d)


def match_functions(st: SymbolTable, pattern: str, cpp: bool = False) -> list[str]:
    """Sorted function-symbol names that pattern names: the raw name or (for
    mangled C++ names) the demangled one, without parameters unless the
    pattern has a '('. With cpp only demangled names count."""
    rx = _glob_rx(pattern)
    want_params = "(" in pattern
    out = []
    for n in st.function_names():
        if ".part." in n:
            continue  # GCC's split-off pieces are not whole functions
        if not cpp and rx.fullmatch(n):
            out.append(n)
            continue
        d = _cpp_forms(n, want_params)
        if d is not None and rx.fullmatch(d):
            out.append(n)
    return sorted(out)


def _func_symbol(st: SymbolTable, name: str):
    """The function called name; an untyped symbol (a hand-written assembly
    routine) will do, data will not."""
    sym = st.lookup_one(name)
    if sym is None:
        sym = next((s for s in st.lookup(name) if s.type == "NOTYPE"), None)
    return sym


def file_offset(elf: ElfFile, vaddr: int) -> int | None:
    return elf.vaddr_to_offset(vaddr)


def file_identity(path: str) -> tuple[int, int]:
    """(st_dev, st_ino) of path, (0, 0) if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_dev, st.st_ino)


def live_load_bias(elf: ElfFile, path: str, pid: int | None) -> int | None:
    """What to add to path's ELF addresses to get run-time ones: 0 for a
    fixed-address executable; for a position-independent file the bias of
    its mapping in the running process pid (None if there is no such
    process or it does not map the file)."""
    if not elf.is_pie:
        return 0
    if pid is None:
        return None
    try:
        maps = read_proc_maps(pid)
    except ElfError:
        return None
    ino = file_identity(path)[1]
    for m in maps:
        # the loader's executable mapping (a process, bpfscope itself, may
        # also map the file to read it)
        if m.inode == ino and "x" in m.perms and (
                m.path == path or os.path.realpath(m.path) == os.path.realpath(path)):
            try:
                return elf.load_bias(m.start, m.offset)
            except ElfError:
                return None
    return None


def _sym_value(st: SymbolTable, name: str) -> int:
    sym = _func_symbol(st, name) if name else None
    return sym.value if sym is not None else 0


# ------------------------------------------------------------ compiler clones

def _is_clone(name: str) -> bool:
    return split_function_name(name) is not None or "[clone " in demangle(name)


def _warn_clones(path: str, func: str, names: list[str]) -> None:
    """A name that matched only GCC clones (f.isra.0, f.constprop.0, the
    C++ '[clone .isra.0]' forms): their parameters are not the source's."""
    if names and func not in names and all(_is_clone(n) for n in names):
        shown = ", ".join(demangle(n) for n in names)
        warn_once(path, func, f"{func} exists in {path} only as a compiler clone "
                               f"({shown}): the compiler removed or replaced some of "
                               f"its parameters (ISRA, constprop), so arg0..argN may "
                               f"not be the arguments of the source")


def _whole_clones(st: SymbolTable, func: str) -> list[str]:
    """func's clones that are whole functions (not .part/.cold pieces)."""
    return sorted(p.name for p in st.parts_of(func)
                  if ".part." not in p.name and not p.name.endswith(".cold"))


# ------------------------------------------------------------ inlining

def _inline_only(path: str, func: str, st: SymbolTable, ret: bool, inlined: bool,
                 span) -> bool:
    """func has no symbol in path: True if it has inlined copies and
    --uprobe-inlined asks for them; a SemanticError saying the probe would
    never fire if it has copies but the option is off; False otherwise
    (the caller reports "No matches")."""
    sites = inline_sites(path, func, st)
    if not sites:
        return False
    if inlined and not ret:
        for w in check_function(path, func, st, True):
            warn_once(path, func, w)
        return True
    msg = check_function(path, func, st, False)[-1]
    if ret:
        msg += "; uretprobes cannot probe inlined copies (they do not return)"
    raise SemanticError(msg, span)


# ------------------------------------------------------------ Go binaries

_GO_SECTIONS = (".note.go.buildid", ".gopclntab", ".go.buildinfo")


def is_go_binary(elf: ElfFile) -> bool:
    return any(elf.section(s) is not None for s in _GO_SECTIONS)


def _warn_go(path: str) -> None:
    warn(f"{path} is a Go program: uretprobes may crash it, because "
         f"the Go runtime moves goroutine stacks and the return address a "
         f"uretprobe rewrites moves with them", key=("go", path))


# ------------------------------------------------------------ the provider

class Uprobe(Provider):
    """The provider for both "uprobe" and "uretprobe"."""

    listed = ""  # -l with a wildcard type lists no uprobes (they need a file)
    names = ("uprobe", "uretprobe")
    reattaches = frozenset(names)
    newest_first = True  # uprobe consumers: the last one registered runs first
    aliases = {"u": "uprobe", "ur": "uretprobe"}
    prog_type = "kprobe"

    def list(self, pattern: str, verbose: bool, options) -> list[str] | None:
        if ":" not in pattern:
            return None  # a bare "uprobe" names no file
        from ..sema.analyzer import config_from_env
        demangle = bool(config_from_env(os.environ).get("cpp_demangle", 1))
        return list_probes(pattern, options.pid, demangle=demangle, verbose=verbose)

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        spec = parse_spec(ap, provider, options)
        pid = getattr(options, "pid", None)
        cmd = getattr(options, "cmd", None)
        # The -c child has not yet run its program: what it maps now is
        # not what the program will map.
        live = None if cmd else pid
        paths = resolve_target(spec.target, live, cmd)
        if not paths:
            what = spec.target or f"of pid {pid}"
            raise MissingProbe(f"uprobe target file '{what}' does not exist or is not "
                                f"executable", ap.span)
        out: list[ExpandedProbe] = []
        inl = bool(getattr(options, "inlined", False))
        for path in paths:
            try:
                out.extend(self._expand_path(ap, provider, spec, path, pid,
                                             multi="*" in spec.target, inlined=inl,
                                             live_pid=live,
                                             unsafe=bool(getattr(options, "unsafe", False)),
                                             shown=shown_path(spec.target, path)))
            except ElfError as e:
                raise SemanticError(f"{path}: {e}", ap.span) from None
        if not out:
            raise MissingProbe(f"No matches for {provider} "
                                f"{spec.target or paths[0]}:{spec.func}.", ap.span)
        return out

    def _expand_path(self, ap, provider, spec: Spec, path: str, pid, multi: bool,
                     inlined: bool = False, live_pid: int | None = None,
                     unsafe: bool = False, shown: str | None = None):
        named = shown or path  # the path in the probes' names
        st = symbols_of(path)
        elf = st.elf
        ret = provider == "uretprobe"
        if ret and is_go_binary(elf):
            _warn_go(path)
        lang = f":{spec.lang}" if spec.lang else ""
        ident = file_identity(path)
        bias = live_load_bias(elf, path, live_pid)
        multi_load = multi_mode()

        def probe(sym_name: str, vaddr: int, name: str, func: str,
                  site: int = -1, label: str = "", movable: bool = True) -> ExpandedProbe:
            want = vaddr
            vaddr = check_site(st, path, vaddr, label or func, movable, unsafe, ap.span,
                               provider)
            off = file_offset(elf, vaddr)
            if off is None:
                raise SemanticError(f"Could not resolve address: {path}:{vaddr:#x} "
                                    f"is not in a loaded segment", ap.span)
            t = UprobeTarget(path, off, ret, pid, sym_name, want - _sym_value(st, sym_name),
                             vaddr, site, *ident, requested=want, movable=movable,
                             unsafe=unsafe, code=b"" if sym_name else code_at(st, want))
            # at a function's entry (or its return), DWARF says what the
            # argument registers (or rax) hold
            entry = bool(sym_name) and site < 0 and want == _sym_value(st, sym_name)
            return ExpandedProbe(provider, name, t, None, ap.span, func=func,
                                 mangled=sym_name if func != sym_name else "",
                                 layout=USER_REGS, is_return=ret, binary=path,
                                 site_vaddr=None if ret else vaddr, load_bias=bias,
                                 load=multi_load,
                                 debuginfo=DebugArgs(path, want, ret) if entry else None)

        def inline_probes(n: str) -> list[ExpandedProbe]:
            """--uprobe-inlined: one probe per inlined copy of n."""
            sites = inline_sites(path, n, st) or []
            if ret and sites:
                warn_once(path, n, f"{n} is inlined into {describe_sites(sites)}: "
                                    f"uretprobes cannot probe inlined copies (they "
                                    f"do not return)")
                return []
            return [probe(n, s.addr, f"{provider}:{named}{lang}:{n}", demangle(n), i,
                          label=f"{n} inlined into {s.caller} at {s.addr:#x}")
                    for i, s in enumerate(sites)]

        if spec.source is not None:
            file, line = spec.source
            return [probe(sym, addr, f"{provider}:{named}@{file}:{line}", demangle(sym),
                          label=f"{file}:{line} ({sym}+{addr - _sym_value(st, sym):#x})",
                          movable=False)
                    for sym, addr in source_line_sites(st, path, file, line, ap.span)]

        if spec.address is not None:
            hit = st.lookup_addr(spec.address)
            if hit is None or hit.symbol.type not in FUNC_TYPES:
                raise SemanticError(f"Could not resolve address: {path}:{spec.address:#x}",
                                    ap.span)
            if ret and hit.offset:
                raise SemanticError(
                    f"uretprobes cannot be attached at function offset. (address "
                    f"resolved to: {hit.symbol.name}+{hit.offset})", ap.span)
            return [probe(hit.symbol.name, spec.address,
                          f"{provider}:{named}:{spec.address}", demangle(hit.symbol.name),
                          label=f"{spec.address:#x} ({hit.symbol.name}+{hit.offset})",
                          movable=False)]

        func = spec.func
        if "*" in func or spec.lang:
            names = match_functions(st, func, cpp=bool(spec.lang))
            explicit = False
            if not names and not multi and "*" not in func:
                raise MissingProbe(f"No matches for {provider} {path}:{func}.", ap.span)
            if "*" not in func:
                _warn_clones(path, func, names)
        else:
            sym = _func_symbol(st, func)
            explicit = True
            if sym is not None:
                names = [func]
            elif spec.address is None and not spec.offset and \
                    _inline_only(path, func, st, ret, inlined, ap.span):
                return inline_probes(func)
            else:
                names = match_functions(st, func)
                if len(names) > 1:
                    cands = "\n".join(f"    {n}  ({demangle(n)})" for n in names)
                    raise SemanticError(
                        f"{func} is ambiguous in {path}: it is the name of "
                        f"{len(names)} C++ functions; pick one with "
                        f"{provider}:{path}:cpp:\"...\" or by its mangled name:\n{cands}",
                        ap.span)
                if not names:
                    names = _whole_clones(st, func)  # f.isra.0 when f is gone
                if not names:
                    if multi:
                        return []
                    # bpftrace 0.26's words, with the path as the script wrote it
                    raise MissingProbe(f"Could not resolve symbol: {spec.target or path}:{func}",
                                       ap.span)
        if "*" not in func:
            _warn_clones(path, func, names)
        out = []
        for n in names:
            sym = _func_symbol(st, n)
            if sym is None:
                continue
            if spec.offset and spec.offset >= max(sym.size, 1):
                raise SemanticError(f"Offset outside the function bounds ('{n}' size is "
                                    f"{sym.size})", ap.span)
            if not sym.size and not unsafe and "*" not in func:
                # bpftrace 0.26: where the function ends is unknown, so
                # whether the probe lands on an instruction cannot be told
                raise SemanticError(
                    f"Could not determine boundary for {n} (symbol has size 0).\n"
                    "Use --unsafe to force attachment. WARNING: This option could lead "
                    "to data corruption in the target process.", ap.span)
            suffix = f"+{spec.offset}" if spec.offset else ""
            vaddr, sym_name = sym.value + spec.offset, n
            if sym.type == "IFUNC" and not spec.offset:
                impl = ifunc.implementation(elf, path, n, live_load_bias)
                if impl is not None:
                    vaddr, sym_name = impl, ""  # re-attached by address
                elif explicit:
                    warn_once(path, n, ifunc.unresolved_warning(path, n, st))
            label = f"{n}{suffix}" if sym_name else f"{n} (its implementation at {vaddr:#x})"
            try:
                out.append(probe(sym_name, vaddr,
                                 f"{provider}:{named}{lang}:{n}{suffix}", demangle(n),
                                 label=label, movable=not spec.offset))
            except SemanticError as e:
                if "*" not in func:
                    raise
                # one unsafe function does not sink a whole wildcard
                warn_once(path, n, f"{e.message}; {n} is left out")
                continue
            if explicit and not spec.offset:
                for w in check_function(path, n, st, inlined and not ret):
                    warn_once(path, n, w)
                if inlined:
                    out.extend(inline_probes(n))
        return out

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        t: UprobeTarget = probe.target
        return attach_at(probe, prog_fd, t.offset)

    def info(self) -> list[tuple[str, str]]:
        return [("uprobe_multi", "yes" if features.has_uprobe_multi() else "no")]

    def group_key(self, probe: ExpandedProbe):
        if not probe.load:
            return None
        t: UprobeTarget = probe.target
        return (t.path, t.retprobe, t.pid)

    def attach_group(self, probes: list[ExpandedProbe], prog_fd: int) -> list[int]:
        t: UprobeTarget = probes[0].target
        # the offsets check_site placed, as for one probe
        return [link.uprobe_multi_link(prog_fd, t.path, [p.target.offset for p in probes],
                                       t.retprobe, t.pid)]


def multi_mode() -> dict:
    """The load attributes of uprobe programs: for uprobe_multi links
    where the kernel has them, else none (one perf event per probe)."""
    if features.has_uprobe_multi():
        return {"expected_attach_type": AttachType.TRACE_UPROBE_MULTI}
    return {}


def attach_at(probe: ExpandedProbe, prog_fd: int, offset: int) -> list[int]:
    """Attach probe's program at file offset ``offset`` of its file: a
    uprobe_multi link of one offset for a program loaded for those (its
    ``load``), else a perf event of the uprobe PMU."""
    t: UprobeTarget = probe.target
    if probe.load:
        return [link.uprobe_multi_link(prog_fd, t.path, [offset], t.retprobe, t.pid)]
    return attach_to_perf_event(prog_fd, open_uprobe(t.path, offset, t.retprobe, t.pid))


# ------------------------------------------------------------ the PMU

def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def pmu_type() -> int:
    try:
        return int(_read(f"{PMU_DIR}/type"))
    except (OSError, ValueError):
        from ..errors import KernelError
        raise KernelError("this kernel has no uprobe PMU "
                          f"({PMU_DIR}/type is missing): uprobes need "
                          "CONFIG_UPROBE_EVENTS and Linux 4.17 or newer") from None


def retprobe_bit() -> int:
    """The config bit the PMU's format/retprobe names ('config:0')."""
    try:
        fmt = _read(f"{PMU_DIR}/format/retprobe")
        m = re.fullmatch(r"config:(\d+)", fmt)
        if m:
            return 1 << int(m.group(1))
    except OSError:
        pass
    return 1


def ref_ctr_shift() -> int | None:
    """Where the PMU's format/ref_ctr_offset puts the reference counter's
    file offset in ``config`` ('config:32-63': 32); None when the kernel
    has no uprobe reference counters (before Linux 4.20)."""
    try:
        fmt = _read(f"{PMU_DIR}/format/ref_ctr_offset")
    except OSError:
        return None
    m = re.fullmatch(r"config:(\d+)(?:-\d+)?", fmt)
    return int(m.group(1)) if m else None


def open_uprobe(path: str, offset: int, retprobe: bool, pid: int | None,
                ref_ctr_offset: int = 0) -> int:
    """Open one uprobe perf event; its fd. A nonzero ``ref_ctr_offset``
    (the file offset of a 2-byte counter, a USDT semaphore) makes the
    kernel increment that counter in every process mapping the file while
    the probe is attached."""
    buf = ctypes.create_string_buffer(os.fsencode(path))
    config = retprobe_bit() if retprobe else 0
    if ref_ctr_offset:
        shift = ref_ctr_shift()
        if shift is None:
            from ..errors import KernelError
            raise KernelError("this kernel's uprobe PMU has no reference counters "
                              f"({PMU_DIR}/format/ref_ctr_offset is missing): USDT "
                              "semaphores need Linux 4.20 or newer")
        config |= ref_ctr_offset << shift
    if pid is None:
        cpu, pid_arg = 0, -1
    else:
        cpu, pid_arg = -1, pid
    return perf.perf_event_open(pmu_type(), config, pid=pid_arg, cpu=cpu,
                                config1=ctypes.addressof(buf), config2=offset)


# ------------------------------------------------------------ listing

def split_spec(text: str) -> list[str]:
    """text split at ':' outside double quotes, quotes removed."""
    parts, cur, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def source_line_sites(st, path: str, file: str, line: int, span) -> list[tuple[str, int]]:
    """(function symbol, address) where the code of ``file:line`` starts,
    from the line table: one site, the lowest address that begins a
    statement of that line (bpftrace 0.26 attaches one probe per source
    location). A located error when the file has no line table or the
    line has no code."""
    try:
        table = line_table(path)
    except ElfError as e:
        raise SemanticError(f"{path}: {e}", span) from None
    if not table.has_lines:
        raise SemanticError(f"{path} has no DWARF line table: it cannot be probed by source "
                            f"line (build it with -g, or install its debug file)", span)
    addrs = table.addresses(file, line)
    if not addrs:
        known = sorted(table.lines_of(file))
        if not known:
            raise MissingProbe(f"No source file {file} in the line table of {path}", span)
        near = min(known, key=lambda n: (abs(n - line), n))
        raise MissingProbe(f"No code for {file}:{line} in {path} (the nearest line with "
                           f"code is {near})", span)
    addr = addrs[0]
    hit = st.lookup_addr(addr)
    if hit is None or hit.symbol.type not in FUNC_TYPES:
        raise SemanticError(f"{file}:{line} is at {addr:#x} in {path}, which is in no "
                            f"function of its symbol table", span)
    return [(hit.symbol.name, addr)]


def list_probes(pattern: str, pid: int | None = None, demangle: bool = True,
                verbose: bool = False) -> list[str]:
    """The lines `-l PATTERN` prints for a uprobe pattern
    ('uprobe:/bin/bash:read*', 'uprobe:./app:cpp:*'): sorted; raw symbol
    names, or with cpp: the demangled names in quotes (bpftrace's form),
    unless demangle is off (cpp_demangle=0): then the mangled names.
    ``verbose`` (-lv): each function's parameters from its debug
    information under it ('    int argc'). SemanticError (span None) for
    a bad pattern."""
    parts = split_spec(pattern)
    provider = Uprobe.aliases.get(parts[0], parts[0])
    if len(parts) == 2 and pid is None:
        parts.append("*")  # uprobe:/bin/bash lists all functions

    class _AP:
        pass
    ap = _AP()
    ap.parts, ap.raw, ap.span = parts, pattern, None

    class _Opt:
        pass
    opt = _Opt()
    opt.pid = pid
    spec = parse_spec(ap, provider, opt)
    if spec.address is not None:
        return []
    out = []
    for path in resolve_target(spec.target, pid):
        try:
            st = symbols_of(path)
            names = match_functions(st, spec.func or "*", cpp=bool(spec.lang))
        except ElfError:
            continue
        shown = shown_path(spec.target, path) or path
        for n in names:
            if spec.lang and demangle:
                line = f'{provider}:{shown}:{spec.lang}:"{demangle_name(n)}"'
            else:
                line = f"{provider}:{shown}:{n}"
            params = None
            if verbose and provider == "uprobe":
                params = DebugArgs(path, _sym_value(st, n), False).declarations()
            out.append((line, params or []))
    return [line + "".join(f"\n    {p}" for p in params)
            for line, params in sorted(dict(out).items())]
