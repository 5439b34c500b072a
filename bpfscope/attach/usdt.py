"""usdt: user-space statically defined tracing (SystemTap SDT probes).

Spec forms (bpftrace's), after the provider name::

    usdt:/path/to/bin:provider:name     one probe
    usdt:/path/to/bin:name              the provider may be left out when
                                        the name is unique in the file
    usdt:/path/to/bin:prov*:na*         wildcards in provider and name
    usdt:libfoo:provider:name           a library by short name
    usdt:*:provider:name                with -p PID: every file the
    usdt::provider:name                 process has mapped
    usdt:/path/lib*.so:provider:name    every file the glob names (with -p
                                        PID, as that process sees them)

With -p PID, paths are the process's: a process of another mount
namespace (a container) is reached through /proc/PID/root, its probes
named by the path it knows.

The target is found as for uprobes (:func:`uprobe.resolve_target`): made
absolute, a name starting with "lib" looked up in /proc/PID/maps (with a
pid) and ld.so.cache, other names without '/' in $PATH.

A probe can have several sites (the macro was inlined or written twice),
each with its own argument locations, so every site is one
:class:`ExpandedProbe` (all named ``usdt:/path:provider:name``, the value
of ``probe``) with context "usdt" and ``usdt_args`` saying where arg0..N
are in the registers of the traced thread.

Arguments that name a symbol (``4@counter(%rip)``, the form GCC uses for a
global) are made position independent: at a uprobe the kernel sets the
saved instruction pointer to the probe site, so the symbol's run-time
address is ``ip - site + symbol`` (link-time addresses on the right). That
works for programs, PIE programs and shared libraries alike, without
knowing where the file was loaded.

Each site's address is checked as a uprobe's (:func:`uprobesite.check_site`:
on an instruction boundary and not an instruction the kernel mishandles;
the probe is never moved, a real site is a legacy nop); a bad site is an
error, or with wildcards left out with a warning.

Attaching opens one perf event of the kernel's uprobe PMU per site (as
uprobe does, :func:`uprobe.open_uprobe`): ``config2`` is the file offset of
the site and, for a probe guarded by a semaphore, ``config``'s
``ref_ctr_offset`` field (bits 32-63) holds the semaphore's file offset, so
the kernel itself increments the semaphore in every process that maps the
file, now or later, and decrements it when the probe goes away.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from ..arch.x86_64 import REGS_IP
from ..elf import ElfError, ElfFile
from ..elf.usdt import NT_STAPSDT, UsdtArg, UsdtProbe, decode_note, read_usdt_probes
from ..errors import MissingProbe, SemanticError, warn
from ..sema.probes import USDT_OPERANDS, ExpandedProbe, RegArg
from .perfattach import attach_to_perf_event
from .provider import Provider
from .uprobe import open_uprobe, pid_files, resolve_target, shown_path, split_spec, symbols_of
from .uprobesite import check_site

RIP = REGS_IP  # struct pt_regs offset of ip


@dataclass(frozen=True)
class UsdtTarget:
    """What attach needs: the file, the site's file offset, the semaphore's
    file offset (0: none), the process to limit the probe to."""
    path: str
    offset: int
    semaphore: int = 0
    pid: int | None = None


# ------------------------------------------------------------ spec parsing

@dataclass
class Spec:
    target: str
    ns: str | None      # the provider; None when left out
    name: str


def parse_spec(parts: list[str], span=None) -> Spec:
    """parts: the attach point's fields after 'usdt'."""
    if len(parts) not in (2, 3):
        raise SemanticError(f"usdt probe type requires 2 or 3 arguments, found {len(parts)}",
                            span)
    target, name = parts[0], parts[-1]
    # an empty provider (usdt:FILE::NAME) matches every provider, as bpftrace's does
    ns = parts[1] or None if len(parts) == 3 else None
    if not name:
        raise SemanticError("usdt probe type should have a probe name", span)
    return Spec(target, ns, name)


def _has_wildcard(s: str | None) -> bool:
    return s is not None and any(c in s for c in "*?[")


# ------------------------------------------------------------ target files

def resolve_targets(target: str, pid: int | None, span=None) -> list[str]:
    """The files a target names. Left out (usdt::NS:NAME) with -p, as
    ``*``: every file the process has mapped."""
    if not target:
        if pid is None:
            raise SemanticError("usdt probe type should have a target", span)
        return pid_files(pid)
    if target == "*":
        if pid is None:
            raise SemanticError("usdt:* needs -p PID (or -c CMD): the files the "
                                "process has mapped are searched", span)
        return pid_files(pid)
    return resolve_target(target, pid)


# ------------------------------------------------------------ probes of a file

_probes: dict[str, list[UsdtProbe]] = {}


def probes_of(path: str) -> list[UsdtProbe]:
    """The (cached) USDT probe sites of path, in note order. A site whose
    argument string cannot be decoded keeps its place with args None."""
    hit = _probes.get(path)
    if hit is not None:
        return hit
    try:
        out = read_usdt_probes(path)
    except ElfError:
        out = _read_leniently(path)
    _probes[path] = out
    return out


def _read_leniently(path: str) -> list[UsdtProbe]:
    """read_usdt_probes, but one bad argument spec (a floating-point
    register, say) spoils only its own probe."""
    out = []
    with ElfFile(path) as elf:
        sb = elf.section(".stapsdt.base")
        base = sb.addr if sb is not None else None
        for n in elf.notes():
            if n.name != "stapsdt" or n.type != NT_STAPSDT:
                continue
            try:
                p = decode_note(n.desc, base, path)
            except ElfError as e:
                # the same note without its arguments, to keep the site
                provider_name = n.desc[24:].split(b"\0")[:2]
                try:
                    p = decode_note(n.desc[:24] + b"\0".join(provider_name) + b"\0\0",
                                    base, path)
                except ElfError:
                    continue
                p.args = None  # type: ignore[assignment]
                p.arg_str = e.message
            p.pc_offset = elf.vaddr_to_offset(p.pc)
            if p.semaphore:
                p.semaphore_offset = elf.vaddr_to_offset(p.semaphore)
            out.append(p)
    return out


def match(path: str, ns: str | None, name: str) -> list[UsdtProbe]:
    return [p for p in probes_of(path)
            if fnmatch.fnmatchcase(p.provider, ns if ns is not None else "*")
            and fnmatch.fnmatchcase(p.name, name)]


# ------------------------------------------------------------ arguments

def _symbol_address(path: str, sym: str) -> int | None:
    sym = symbols_of(path).lookup_one(sym, functions_only=False)
    return sym.value if sym is not None and sym.defined else None


def convert_arg(path: str, elf: ElfFile, probe: UsdtProbe, a: UsdtArg, span=None) -> RegArg:
    """elf.usdt's decoded argument -> the codegen's RegArg (pt_regs offsets,
    symbols resolved position-independently)."""
    if a.kind == "const":
        return RegArg("const", a.size, a.signed, value=a.value)
    if a.kind == "reg":
        return RegArg("reg", a.size, a.signed, reg=a.reg.pt_regs_offset,
                      byte_off=a.reg.byte_offset)
    base = a.base.pt_regs_offset if a.base is not None else None
    index = a.index.pt_regs_offset if a.index is not None else None
    disp = a.disp
    link_time = False  # disp holds a link-time address
    if a.disp_symbol:
        addr = _symbol_address(path, a.disp_symbol)
        if addr is None:
            raise SemanticError(f"usdt:{path}:{probe.provider}:{probe.name}: argument "
                                f"{a.spec!r} names symbol {a.disp_symbol}, which {path} "
                                f"does not define", span)
        disp += addr
        link_time = True
    elif base is None and index is None:
        link_time = True  # an absolute address
    if base == RIP and link_time:
        # sym(%rip) means the symbol's address: ip (= the site at the
        # uprobe) - site + symbol
        disp -= probe.pc
    elif link_time and elf.is_pie:
        # a link-time address in a relocatable file: add ip - site, with
        # ip in a free slot of the address
        if base is None:
            base = RIP
        elif index is None:
            index, scale = RIP, 1
            return RegArg("mem", a.size, a.signed, base=base, index=index, scale=scale,
                          disp=disp - probe.pc)
        else:
            raise SemanticError(f"usdt:{path}:{probe.provider}:{probe.name}: argument "
                                f"{a.spec!r} is an absolute address in a position-"
                                f"independent file", span)
        disp -= probe.pc
    return RegArg("mem", a.size, a.signed, base=base, index=index, scale=a.scale, disp=disp)


# ------------------------------------------------------------ the provider

class Usdt(Provider):
    """The provider for "usdt"."""

    listed = ""  # -l with a wildcard type lists no USDT probes (they need a file or pid)
    names = ("usdt",)
    newest_first = True  # USDT probes are uprobes
    aliases = {"U": "usdt"}
    prog_type = "kprobe"

    def list(self, pattern: str, verbose: bool, options) -> list[str] | None:
        # a bare "usdt" names no file
        return list_probes(pattern, options.pid) if ":" in pattern else None

    def expand(self, ap, provider: str, options) -> list[ExpandedProbe]:
        spec = parse_spec(list(ap.parts[1:]), ap.span)
        pid = getattr(options, "pid", None)
        paths = resolve_targets(spec.target, pid, ap.span)
        if not paths:
            raise SemanticError(f"usdt target file '{spec.target}' does not exist or is "
                                f"not executable", ap.span)
        wild = spec.target in ("*", "") or _has_wildcard(spec.target) or \
            _has_wildcard(spec.ns) or _has_wildcard(spec.name)
        found: list[tuple[str, list[UsdtProbe]]] = []
        for path in paths:
            try:
                sites = match(path, spec.ns, spec.name)
            except ElfError as e:
                if len(paths) > 1:
                    continue
                raise SemanticError(f"{path}: {e}", ap.span) from None
            if sites:
                found.append((path, sites))
        written = ":".join([spec.target] + ([spec.ns] if spec.ns is not None else [])
                           + [spec.name])
        if not found:
            if wild:
                raise MissingProbe(f"No matches for usdt {written}.", ap.span)
            raise SemanticError(f"Failed to find usdt probe: usdt:{written}", ap.span)
        if spec.ns is None and not _has_wildcard(spec.name):
            names = sorted({(path, p.provider, p.name) for path, sites in found for p in sites})
            if len(names) > 1:
                raise SemanticError(
                    f"namespace for usdt:{written} not specified, matched {len(names)} "
                    f"probes", ap.span,
                    detail="INFO: please specify a unique namespace or use '*' to attach "
                           "to all matched probes")
        out = []
        unsafe = bool(getattr(options, "unsafe", False))
        for path, sites in found:
            out.extend(self._sites(ap, path, sites, pid, unsafe, wild))
        if not out:
            raise SemanticError(f"No usdt probe site of {written} can be attached safely "
                                f"(see the warnings)", ap.span)
        return out

    def _sites(self, ap, path: str, sites: list[UsdtProbe], pid, unsafe: bool = False,
               wild: bool = False) -> list[ExpandedProbe]:
        out = []
        st = symbols_of(path)
        # a file of another mount namespace by the path its process knows
        shown = shown_path(ap.parts[1] if len(ap.parts) > 1 else "", path) or path
        with ElfFile(path) as elf:
            for p in sites:
                full = f"usdt:{shown}:{p.provider}:{p.name}"
                if p.pc_offset is None:
                    raise SemanticError(f"{full}: the probe site {p.pc:#x} is not in a "
                                        f"loaded segment", ap.span)
                if p.args is None:
                    raise SemanticError(f"{full}: {p.arg_str}", ap.span)
                # The site is the assembler's nop, but the note is data anyone
                # can write: its address gets the uprobe checks (an instruction
                # boundary, not one the kernel mishandles), never moved.
                try:
                    check_site(st, path, p.pc, f"{p.provider}:{p.name} (site {p.pc:#x})",
                               False, unsafe, ap.span, "usdt")
                except SemanticError as e:
                    if not wild:
                        raise
                    warn(f"{e.message}; that site is left out")
                    continue
                args = [convert_arg(path, elf, p, a, ap.span) for a in p.args]
                sem = p.semaphore_offset or 0
                out.append(ExpandedProbe("usdt", full, UsdtTarget(path, p.pc_offset, sem, pid),
                                         None, ap.span, layout=USDT_OPERANDS, usdt_args=args,
                                         binary=path, site_vaddr=p.pc,
                                         load_bias=None if elf.is_pie else 0))
        return out

    def attach(self, probe: ExpandedProbe, prog_fd: int) -> list[int]:
        t: UsdtTarget = probe.target
        pfd = open_uprobe(t.path, t.offset, False, t.pid, ref_ctr_offset=t.semaphore)
        return attach_to_perf_event(prog_fd, pfd)


# ------------------------------------------------------------ listing

def list_probes(pattern: str, pid: int | None = None) -> list[str]:
    """The lines `-l PATTERN` prints for a usdt pattern: 'usdt:/bin/x' and
    'usdt:/bin/x:*' list every probe of the file, 'usdt:/bin/x:prov:na*'
    those matching; one line per probe (not per site), sorted."""
    parts = split_spec(pattern)[1:]
    if len(parts) == 1:
        parts.append("*")
    if len(parts) == 2:
        parts.insert(1, "*")  # usdt:PATH:NAME lists NAME of every provider
    spec = parse_spec(parts)
    out = set()
    for path in resolve_targets(spec.target, pid):
        try:
            for p in match(path, spec.ns, spec.name):
                out.add(f"usdt:{shown_path(spec.target, path) or path}:{p.provider}:{p.name}")
        except ElfError:
            continue
    return sorted(out)
