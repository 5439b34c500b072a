"""Whether a uprobe may go at an address of x86-64 code, and where.

The kernel emulates or single-steps the instruction a uprobe replaces; on
some (bpfscope.arch.x86_insn.kernel_hazard: EVEX-encoded instructions on
this kernel) that corrupts the traced process. ``check_site`` decodes the
function holding the address and refuses such a site, or moves an entry
probe past hazardous instructions that only write vector registers, or
refuses an address inside an instruction, in bpftrace's words where
bpftrace has them. uprobe, uretprobe, USDT sites and re-attachment after a
library is replaced (attach.reattach) all place their probes through it.
"""

from __future__ import annotations

import bisect

from ..arch import x86_insn
from ..elf import ElfError, SymbolTable
from ..elf.symbols import FUNC_TYPES
from ..errors import SemanticError, warn

_EM_X86_64 = 62
_MAX_REGION = 256 * 1024  # how far an unsized function is decoded


def _function_code(st: SymbolTable, vaddr: int) -> tuple[int, bytes] | None:
    """(start, code) of the function holding vaddr: its symbol's bytes, or
    for code no sized symbol covers (an IFUNC implementation in a library
    with only .dynsym) everything up to the next symbol, which holds the
    function and maybe others after it (more branch targets: safer)."""
    elf = st.elf
    hit = st.lookup_addr(vaddr)
    if hit is not None and hit.symbol.size and (hit.symbol.type in FUNC_TYPES or hit.symbol.type == "NOTYPE"):
        start, size = hit.symbol.value, hit.symbol.size
    else:
        start = vaddr
        st._addr_index()
        nxt = bisect.bisect_right(st._starts, vaddr)
        end = st._starts[nxt] if nxt < len(st._starts) else vaddr + _MAX_REGION
        size = min(end - vaddr, _MAX_REGION)
    for s in elf.segments:
        if s.type == 1 and s.vaddr <= start < s.vaddr + s.filesz:
            size = min(size, s.vaddr + s.filesz - start)
            break
    try:
        return start, elf.read_vaddr(start, size)
    except ElfError:
        return None


def _decodable_prefix(code: bytes, start: int) -> bytes:
    """code up to its first byte that does not decode (padding, data)."""
    pos = 0
    while pos < len(code):
        try:
            pos += x86_insn.decode(code, pos, start + pos).length
        except x86_insn.DecodeError:
            break
    return code[:pos]


def _bpftrace_place(st: SymbolTable, vaddr: int, label: str) -> str:
    """vaddr as bpftrace names it in its alignment messages: SYMBOL+OFFSET."""
    hit = st.lookup_addr(vaddr)
    return f"{hit.symbol.name}+{hit.offset}" if hit is not None else label


def _unchecked(provider: str, path: str, place: str, why: str, unsafe: bool,
               span) -> None:
    """An address whose instruction cannot be decoded: bpftrace's 'Failed
    to check' error (with the reason), or with --unsafe its warning."""
    if not unsafe:
        raise SemanticError(f"Failed to check if {provider} is in proper place: "
                            f"{path}:{place}: {why} (--unsafe attaches it unchecked)",
                            span)
    warn_once(path, place, f"Unchecked {provider}: {path}:{place} ({why})")


def check_site(st: SymbolTable, path: str, vaddr: int, label: str, movable: bool,
               unsafe: bool, span, provider: str = "uprobe") -> int:
    """The address to attach a uprobe meant for vaddr (label names it in
    messages, 'strlen' or 'leaf+12'): vaddr itself, or past hazardous
    entry instructions that only write vector registers (``movable``), with
    a warning. SemanticError for an address inside an instruction, an
    instruction the kernel mishandles (see bpfscope.arch.x86_insn), or code
    that cannot be read or decoded (nothing says the address is safe),
    unless ``unsafe`` (then a warning)."""
    if st.elf.e_machine != _EM_X86_64:
        return vaddr
    hit = st.lookup_addr(vaddr)
    if movable and (hit is None or hit.offset == 0):
        # a function's start is an instruction boundary: only a hazard there
        # needs the whole function (wildcards over big libraries stay cheap);
        # an inlined copy's address inside its caller is checked in full
        try:
            first = x86_insn.decode(st.elf.read_vaddr(vaddr, 15), 0, vaddr)
        except (ElfError, x86_insn.DecodeError):
            first = None
        if first is not None and x86_insn.kernel_hazard(first) is None:
            return vaddr
    fc = _function_code(st, vaddr)
    if fc is None:
        _unchecked(provider, path, label, f"its code at {vaddr:#x} cannot be read "
                   f"from the file", unsafe, span)
        return vaddr
    start, code = fc
    end = start + len(code)
    code = _decodable_prefix(code, start)
    if not start <= vaddr < start + len(code):
        bad = start + len(code)
        _unchecked(provider, path, label,
                   f"the bytes at {bad:#x} ({_code_hex(st, bad, min(8, end - bad))}) "
                   f"are not an x86-64 "
                   f"instruction bpfscope can decode", unsafe, span)
        return vaddr
    try:
        pl = x86_insn.placement(code, start, vaddr - start, movable, end=end)
    except x86_insn.DecodeError as e:
        _unchecked(provider, path, label, f"its code cannot be decoded ({e})",
                   unsafe, span)
        return vaddr
    except x86_insn.Unsafe as e:
        ins = e.insn
        if e.reason == "middle":
            place = _bpftrace_place(st, vaddr, label)
            if not unsafe:
                raise SemanticError(f"Could not add {provider} into middle of "
                                    f"instruction: {path}:{place}", span) from None
            warn_once(path, place, f"Unsafe {provider} in the middle of the "
                                    f"instruction: {path}:{place}")
            return vaddr
        what = (f"{x86_insn.ENCODINGS[ins.encoding]} instruction {ins.hex} at "
                f"{label} in {path}")
        why = x86_insn.describe_hazard(ins)
        if unsafe:
            warn_once(path, label, f"{what}: {why}; attached anyway (--unsafe)")
            return vaddr
        if e.reason == "target":
            how = ("a branch inside the function lands on the instructions after "
                   "it, so the probe cannot move past it")
        elif e.reason == "undecoded":
            how = (f"the function goes on into code at {start + len(code):#x} that "
                   f"bpfscope cannot decode, which may branch back past it, so the "
                   f"probe cannot move past it")
        elif e.reason == "indirect":
            how = (f"the function has an indirect jump ({e.other.hex} at "
                   f"{e.other.addr:#x}: a jump table or computed goto) that may land "
                   f"after it, so the probe cannot move past it")
        elif movable:
            how = ("the instructions after it do not leave the arguments and the "
                   "stack alone, so the probe cannot move past them")
        elif provider == "usdt":
            raise SemanticError(f"Cannot attach usdt to the {what}: {why}; a USDT site "
                                f"is the assembler's nop, so this file's .note.stapsdt "
                                f"does not point at one and is not to be trusted", span) from None
        else:
            how = "a probe at an explicit offset is not moved"
        raise SemanticError(f"Cannot attach {provider} to the {what}: {why}; {how}. "
                            f"Probe a caller, or another instruction of the function "
                            f"(func+offset on an instruction boundary after it)", span) from None
    if pl.skipped:
        first = pl.skipped[0]
        names = ", ".join(f"{x86_insn.ENCODINGS[i.encoding]} {i.hex}" for i in pl.skipped)
        warn_once(path, label, f"{provider} on {label} in {path} placed at +{pl.addr - vaddr} "
                                f"(after {names}): {x86_insn.describe_hazard(first)} at "
                                f"the entry; the skipped instructions write only vector "
                                f"registers, so arguments, stack and return address are "
                                f"those of the entry")
    return pl.addr


def code_at(st: SymbolTable, vaddr: int, n: int = 32) -> bytes:
    """Up to n bytes of code at vaddr (fewer at the end of the file)."""
    for k in range(n, 0, -1):
        try:
            return st.elf.read_vaddr(vaddr, k)
        except ElfError:
            continue
    return b""


def _code_hex(st: SymbolTable, vaddr: int, n: int = 8) -> str:
    """Up to n bytes of code at vaddr, in hex ('?' if unreadable)."""
    return " ".join(f"{b:02x}" for b in code_at(st, vaddr, n)) or "?"


def warn_once(path: str, func: str, text: str) -> None:
    warn(text, key=(path, func, text))
