"""bpftrace's builtin functions, one module per family; importing this
package registers every function in sema.registry.

A unit of its own, after codegen in the layer order (lang -> sema ->
codegen -> functions -> bpf -> ...): a family module holds, for each of
its functions, the argument checks and typing (run by sema through the
registry) and the lowering (run by codegen through the registry) side by
side, so adding a function is one record in one module. sema and codegen
import only sema.registry, never this package: the shell (api) and
tests/conftest.py import it, which fills the table before any compile.
"""

from __future__ import annotations

from . import maps, net, output, process, strings, symbols, time, unsafe  # noqa: F401
