"""One bpftrace map kept in two kernel maps (codegen.stackids): entries
whose key's stacks are ids into stack-trace maps, and the entries of
stacks that got no id, keyed by their frames (``copies``). To user space
it is one map: its entries are both maps' (decoded each by its own key
type into equal Stack values; no key is in both), clear and zero act on
both. The frames of an id are read from its stack-trace map once: the
kernel never changes a bucket it filled (no BPF_F_REUSE_STACKID, nothing
deletes), so an id means one stack for the whole session.
"""

from __future__ import annotations


class StackIdMap:
    def __init__(self, ids, copies, copies_spec):
        self.ids, self.copies, self.copies_spec = ids, copies, copies_spec

    def __getattr__(self, name):  # fd, key_size, value_size, max_entries, name ...
        return getattr(self.ids, name)

    def parts(self, spec) -> list:
        """(spec, kernel map) of each part, ``spec`` the ids map's."""
        return [(spec, self.ids), (self.copies_spec, self.copies)]

    def clear(self) -> None:
        self.ids.clear()
        self.copies.clear()

    def close(self) -> None:
        self.ids.close()  # the copies map is the session's too, closed as its own


def frames_of(stack_map, sid: int, elem: int) -> bytes:
    """The frames stack id ``sid`` holds (leaf first, ``elem`` bytes each),
    without the zeroed tail the kernel pads its value with; b"" when the
    id is gone."""
    raw = stack_map.lookup(sid.to_bytes(4, "little"))
    if not raw:
        return b""
    raw = bytes(raw)
    n = len(raw) // elem
    zero = bytes(elem)
    while n and raw[(n - 1) * elem:n * elem] == zero:
        n -= 1
    return raw[:n * elem]
