"""bpftrace's builtin functions, one module per family; importing this
package registers every function in sema.registry.

A unit of its own, after runtime in the layer order (lang -> sema ->
codegen -> bpf -> attach -> runtime -> functions -> output): a family
module holds, for each of its functions, the argument checks and typing
(run by sema), the lowering (run by codegen) and what user space does with
the records it sends (run by runtime.session), all reached through
sema.registry, so adding a function is one record in one module. sema,
codegen and runtime import only sema.registry, never this package: the
shell (api) and tests/conftest.py import it, which fills the table before
any compile.
"""

from __future__ import annotations

from . import (aggregates, context, maps, net, output, process, strings,  # noqa: F401
               symbols, system, time, unsafe)
