"""GNU indirect functions (STT_GNU_IFUNC): strlen, memcpy, ... in glibc.

The symbol of an IFUNC is not the function but its *resolver*: ld.so calls
it once per process when binding the symbol, and it returns the address of
the implementation that suits the CPU (__strlen_avx2, __strlen_evex, ...).
A uprobe on the symbol therefore fires about once per process, not on each
call, which is never what ``uprobe:libc:strlen`` means.

The implementation depends only on the CPU (and glibc tunables), so the one
this machine's processes use is the one bpfscope's own dynamic linker picks:
when the file is loaded into this process too (libc, libm: Python maps
them), dlsym() runs the resolver and returns the implementation, and its
address minus this process's load bias of the file is the ELF address to
probe. A file this process has not loaded is not loaded just to ask (its
constructors would run here); the probe then stays on the resolver and a
warning says so, naming the implementations the symbol table knows.
"""

from __future__ import annotations

import ctypes
import os
import re

from ..elf import ElfError, ElfFile, SymbolTable

_resolved: dict[tuple[str, str], int | None] = {}


def implementation(elf: ElfFile, path: str, name: str, bias_of) -> int | None:
    """ELF address in path of the implementation IFUNC name resolves to on
    this machine, or None when it cannot be told. bias_of(elf, path, pid)
    gives a process's load bias of the file."""
    key = (path, name)
    if key in _resolved:
        return _resolved[key]
    addr = None
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        fn = getattr(lib, name)
        runtime = ctypes.cast(fn, ctypes.c_void_p).value
        bias = bias_of(elf, path, os.getpid())
        if runtime and bias is not None:
            addr = runtime - bias
            if elf.vaddr_to_offset(addr) is None:
                addr = None
    except (OSError, AttributeError, ElfError):
        addr = None
    _resolved[key] = addr
    return addr


def candidates(st: SymbolTable, name: str) -> list[str]:
    """Functions that look like implementations of IFUNC name: glibc calls
    them __NAME_VARIANT (__strlen_avx2, __memcpy_avx_unaligned_erms)."""
    rx = re.compile(rf"_*{re.escape(name)}_\w+")
    return sorted(n for n in st.function_names()
                  if rx.fullmatch(n) and not n.endswith(("_chk", "_ifunc")))


def unresolved_warning(path: str, name: str, st: SymbolTable) -> str:
    impls = candidates(st, name)
    head = (f"{name} in {path} is an indirect function (IFUNC): its symbol is the "
            f"resolver, which runs once when a process binds {name}, not on each "
            f"call, and bpfscope could not tell which implementation this machine "
            f"uses")
    if impls:
        return head + "; probe the implementations instead: " + ", ".join(impls)
    return head + " (the file has no symbols for the implementations; probe one " \
                  "by address)"
