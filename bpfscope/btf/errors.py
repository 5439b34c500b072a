"""The one exception the BTF library raises.

A subclass of the project's :class:`BpfscopeError`, so a missing BTF file or
an unknown struct member reaches the user as one clear sentence; callers that
know the script location re-raise it with a span.
"""

from __future__ import annotations

from bpfscope.errors import BpfscopeError


class BtfError(BpfscopeError):
    """Bad or missing BTF data, or a lookup that found nothing."""
