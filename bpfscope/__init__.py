"""bpfscope: a bpftrace-compatible dynamic tracer in pure Python.

The front door is :func:`trace` (bpfscope.tracer): a script as a context
manager whose maps read live and whose printf records arrive as Python
objects. :mod:`bpfscope.api` compiles and runs scripts the way the CLI
does; mistakes in a script raise :class:`BpfscopeError`.
"""

__version__ = "0.1.0"

__all__ = ["trace", "BpfscopeError", "__version__"]


def __getattr__(name: str):
    # imported when first used: `import bpfscope` stays cheap for the CLI
    if name == "trace":
        from .tracer import trace
        return trace
    if name == "BpfscopeError":
        from .errors import BpfscopeError
        return BpfscopeError
    raise AttributeError(f"module 'bpfscope' has no attribute {name!r}")
