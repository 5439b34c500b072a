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

from .reader import ElfError, ElfFile, Symbol, Segment, Section, Note
from .debugfile import find_debug_file, set_search_dirs
from .symbols import SymbolTable, split_function_name, table_of
from .demangle import demangle, DemangleError, find_mangled
from .usdt import (UsdtProbe, UsdtArg, read_usdt_probes, find_usdt_probes,
                   parse_arg_spec)
from .ldcache import LdCache, Mapping, read_proc_maps, resolve_library

__all__ = [
    "ElfError", "ElfFile", "Symbol", "Segment", "Section", "Note",
    "find_debug_file", "set_search_dirs",
    "SymbolTable", "split_function_name", "table_of",
    "demangle", "DemangleError", "find_mangled",
    "UsdtProbe", "UsdtArg", "read_usdt_probes", "find_usdt_probes",
    "parse_arg_spec",
    "LdCache", "Mapping", "read_proc_maps", "resolve_library",
]
