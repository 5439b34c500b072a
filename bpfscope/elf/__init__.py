"""Binary-file knowledge for user-space probes and symbolization.

A leaf package: it reads ELF files (headers, symbols, notes), demangles
Itanium C++ names, decodes SystemTap USDT notes, and finds libraries through
ld.so.cache and /proc/PID/maps. It imports nothing from bpfscope except
:mod:`bpfscope.errors`, so uprobe/usdt providers and the runtime's
symbolizer can all build on it.

Modules:
  reader    ElfFile: mmap-backed ELF64 little-endian reader
  symbols   SymbolTable: name/glob/address lookup, compiler-split functions
  debugfile separate debug files: build-id, .gnu_debuglink, /usr/lib/debug
  demangle  demangle(), Itanium C++ ABI
  usdt      .note.stapsdt probes and x86-64 argument specs
  ldcache   /etc/ld.so.cache, library short names, /proc/PID/maps
"""

import importlib

# eager: the function must win over the submodule of the same name, which
# importing bpfscope.elf.demangle would otherwise leave as the attribute
from .demangle import demangle, DemangleError, find_mangled

# Each name is loaded from its module on first use (PEP 562), so that a
# reader of one module (elf.debugfile, say) does not pay for the others:
# the demangler and the USDT decoder alone take milliseconds to import.
_WHERE = {
    ".reader": ("ElfError", "ElfFile", "Symbol", "Segment", "Section", "Note"),
    ".debugfile": ("find_debug_file", "set_search_dirs"),
    ".symbols": ("SymbolTable", "split_function_name", "table_of"),
    ".usdt": ("UsdtProbe", "UsdtArg", "read_usdt_probes", "find_usdt_probes", "parse_arg_spec"),
    ".ldcache": ("LdCache", "Mapping", "read_proc_maps", "resolve_library"),
}
_MODULE_OF = {name: mod for mod, names in _WHERE.items() for name in names}


def __getattr__(name):
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = [
    "ElfError", "ElfFile", "Symbol", "Segment", "Section", "Note",
    "find_debug_file", "set_search_dirs",
    "SymbolTable", "split_function_name", "table_of",
    "demangle", "DemangleError", "find_mangled",
    "UsdtProbe", "UsdtArg", "read_usdt_probes", "find_usdt_probes",
    "parse_arg_spec",
    "LdCache", "Mapping", "read_proc_maps", "resolve_library",
]
