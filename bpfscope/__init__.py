"""bpfscope: a bpftrace-compatible dynamic tracer in pure Python.

The public API lives in :mod:`bpfscope.api`; this package re-exports it.
"""

__version__ = "0.1.0"
