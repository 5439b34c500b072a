"""BTF reader: the running kernel's types, from /sys/kernel/btf.

A leaf library (it uses only :mod:`bpfscope.errors`) for the semantic
analyser and probe providers::

    from bpfscope import btf
    kb = btf.load_vmlinux()                    # cached, lazy
    ts = kb.get("struct task_struct")          # type id
    kb.member(ts, "pid")                       # Field(name, type, bit_offset, ...)
    kb.offsetof("task_struct", "se.vruntime")  # bytes
    kb.type_name(kb.member(ts, "parent").type) # 'struct task_struct *'
    kb.func_proto_of("vfs_read").params        # (Param('file', id), ...)

Modules: ``reader`` (the Btf object, lazy index), ``decode`` (one record),
``types`` (decoded objects), ``layout`` (resolve, sizeof, members,
offsetof), ``cname`` (C type names), ``symbols`` (functions, enums),
``cache`` (disk cache of the index), ``loader`` (sysfs, memoization).
Costs are measured in README.md next to this file.
"""

from bpfscope.btf import kinds
from bpfscope.btf.errors import BtfError
from bpfscope.btf.layout import Field
from bpfscope.btf.loader import (from_bytes, list_modules, load_file,
                                 load_module, load_vmlinux)
from bpfscope.btf.reader import Btf
from bpfscope.btf.symbols import FuncSignature
from bpfscope.btf.types import (Array, Datasec, DeclTag, Enum, EnumValue,
                                Float, Func, FuncProto, Fwd, Int, Member,
                                Param, Ref, Struct, Type, Var, VarSecinfo,
                                Void)

__all__ = [
    "Btf", "BtfError", "Field", "FuncSignature", "kinds",
    "load_vmlinux", "load_module", "load_file", "from_bytes", "list_modules",
    "Type", "Void", "Int", "Float", "Ref", "Array", "Member", "Struct",
    "EnumValue", "Enum", "Fwd", "Func", "Param", "FuncProto", "Var",
    "VarSecinfo", "Datasec", "DeclTag",
]
