"""One bpftrace map kept in two kernel maps (codegen.shortkeys): entries
whose string key ends before ``size`` bytes in ``short`` (keyed by the
key's first ``size`` bytes), the others in ``full``. To user space it is
one map: keys come back at the full size, zero-padded as the kernel pads
them, and a key goes to the map the program would put it in: the short
one when its byte ``size - 2`` is zero (the string has at most size - 2
bytes: a read of ``size`` bytes that gives at most size - 1 is whole)."""

from __future__ import annotations


class ShortKeyMap:
    def __init__(self, full, short, size: int):
        self.full, self.short, self.size = full, short, size
        self._pad = bytes(full.key_size - size)

    def __getattr__(self, name):  # fd, key_size, value_size, max_entries, name ...
        return getattr(self.full, name)

    def _pick(self, key: bytes):
        if key[self.size - 2] == 0:
            return self.short, key[:self.size]
        return self.full, key

    def lookup(self, key: bytes):
        m, k = self._pick(key)
        return m.lookup(k)

    def update(self, key: bytes, value, *flags) -> None:
        m, k = self._pick(key)
        m.update(k, value, *flags)

    def delete(self, key: bytes) -> bool:
        m, k = self._pick(key)
        return m.delete(k)

    def keys(self) -> list[bytes]:
        return self.full.keys() + [k + self._pad for k in self.short.keys()]

    def items(self) -> list:
        return self.full.items() + [(k + self._pad, v) for k, v in self.short.items()]

    def clear(self) -> None:
        self.full.clear()
        self.short.clear()

    def close(self) -> None:
        self.full.close()  # the short map is the session's too, closed as its own
