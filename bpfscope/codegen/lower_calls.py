"""Builtin variables (values without parentheses: pid, comm, argN,
retval ...): lowered by their records (bpfscope.functions), as functions
are.

A mixin of codegen.lower.ProbeLowering: ``self`` is the lowering of one
probe (``self.b`` its Builder, ``self.sc`` the script compiler).
"""

from __future__ import annotations

from ..errors import SemanticError
from ..lang import ast
from ..sema import registry


class CallLowering:
    def builtin(self, e: ast.Builtin):
        """The value of a builtin variable: an Int its record lowers, or
        the Mem its record stores a string or a stack into."""
        v = registry.builtin(e.name)
        if v is not None and v.lower is not None:
            return v.lower(self, e)
        if v is not None and v.store is not None:
            return self.mem_expr(e)
        raise SemanticError(f"Builtin '{e.name}' has no lowering", e.span)
