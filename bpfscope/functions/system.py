"""The machine's builtin variables: cpu, numaid (the current CPU's NUMA
node), ncpus (as bpfscope compiles the script) and rand."""

from __future__ import annotations

import os

from ..codegen.loweringvalues import Int
from ..lang import ast
from ..sema import types as T
from ..sema.registry import BuiltinVar, register
from .common import helper_value, of_type


def lower_ncpus(lw, e: ast.Builtin) -> Int:
    r = lw.b.vreg()
    lw.b.mov(r, os.cpu_count() or 1)
    return Int(r)


register(
    BuiltinVar("cpu", of_type(T.UINT32), lower=helper_value("get_smp_processor_id")),
    BuiltinVar("numaid", of_type(T.UINT32), lower=helper_value("get_numa_node_id")),
    BuiltinVar("ncpus", of_type(T.UINT32), lower=lower_ncpus),
    BuiltinVar("rand", of_type(T.UINT32), lower=helper_value("get_prandom_u32")),
)
