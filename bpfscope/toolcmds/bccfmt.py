"""bcc's text layouts, drawn from the maps bpfscope reads.

- :func:`log2_hist`: bcc's ``print_log2_hist`` (``     usecs : count
  distribution`` and ``low -> high : count |****|`` rows). bcc's slot ``i``
  holds values ``2**(i-1) .. 2**i - 1`` and slot 1 also holds 0 (its
  ``bpf_log2l``); bpftrace's ``hist()`` bucket 1 holds 0, bucket 2 holds 1
  and bucket ``j >= 3`` holds ``2**(j-2) .. 2**(j-1) - 1``, so bucket ``j``
  is slot ``max(j - 1, 1)``.
- :func:`frames`: a stack's frames as bcc prints them (symbols without
  offsets unless asked, ``[unknown]`` for an address without a symbol).
"""

from __future__ import annotations

import re

from ..runtime.values import MapData

STARS = 40


def slots(buckets: dict[int, int]) -> dict[int, int]:
    """bpftrace hist() buckets -> bcc log2 slots."""
    out: dict[int, int] = {}
    for j, n in buckets.items():
        s = max(j - 1, 1)
        out[s] = out.get(s, 0) + n
    return out


def _stars(val: int, val_max: int, width: int) -> str:
    if val_max <= 0:
        return ""
    # bcc draws i stars while i <= width*val/val_max - 1 (floats)
    n = 0
    while n <= width * val / val_max - 1 and n <= width - 1:
        n += 1
    return "*" * n


def log2_hist(buckets: dict[int, int], label: str) -> str:
    """The rows bcc prints for one log2 histogram ('' when it is empty)."""
    vals = slots(buckets)
    used = [i for i, v in vals.items() if v > 0]
    if not used:
        return ""
    idx_max = max(used)
    val_max = max(vals.values())
    if idx_max <= 32:
        head = f"     {label:<19} : count     distribution\n"
        width, stars = 10, STARS
    else:
        head = f"               {label:<29} : count     distribution\n"
        width, stars = 20, STARS // 2
    rows = [head]
    for i in range(1, idx_max + 1):
        low, high = (1 << i) >> 1, (1 << i) - 1
        if low == high:
            low -= 1
        v = vals.get(i, 0)
        rows.append(f"{low:>{width}} -> {high:<{width}} : {v:<8} "
                    f"|{_stars(v, val_max, stars):<{stars}}|\n")
    return "".join(rows)


def hist_count_total(data: MapData, key: tuple) -> tuple[int, int]:
    """(count, total) of one hist entry: the values counted and their sum."""
    value = dict(data.entries).get(key, {})
    return sum(value.values()), data.sums.get(key, 0)


def hist_sections(data: MapData, label: str, header=None, order=None) -> tuple[str, int, int]:
    """Every histogram of a hist map, each after ``header(key)`` (a line
    such as ``\\nFunction = vfs_read\\n``; None: no header), in key order
    (or ``order``'s); with the count and total of all their values."""
    out = []
    count = total = 0
    for k, buckets in sorted(data.entries, key=order or (lambda e: e[0])):
        if header is not None:
            out.append(header(k))
        out.append(log2_hist(buckets, label))
        n, t = hist_count_total(data, k)
        count, total = count + n, total + t
    return "".join(out), count, total


def avg_line(count: int, total: int, label: str) -> str:
    """bcc's summary line after a latency histogram ('' for no values)."""
    if not count:
        return ""
    return f"\navg = {total // count} {label}, total: {total} {label}, count: {count}\n"


_OFFSET = re.compile(r"\+(0x)?[0-9a-fA-F]+$")


def frame_name(f: str, offsets: bool = False) -> str:
    """One printed frame as bcc names it: ``[unknown]`` for a bare address,
    the offset dropped unless ``offsets``."""
    f = f.strip()
    if f.startswith("0x") and all(c in "0123456789abcdefx" for c in f):
        return "[unknown]"
    return f if offsets else _OFFSET.sub("", f)


def frames(stack, offsets: bool = False) -> list[str]:
    """The frames of a Stack value, leaf first, as bcc names them."""
    return [frame_name(f, offsets) for f in getattr(stack, "frames", ()) or ()]


def by_count(data: MapData) -> list[tuple[tuple, int]]:
    """Entries of a count map, smallest first (bcc's order), zeros left out."""
    return sorted(((k, v) for k, v in data.entries if v), key=lambda e: e[1])


def stack_entry(kf: list[str], uf: list[str], delimit: bool, comm: str, ident: int,
                value: int, folded: bool) -> str:
    """One stack as bcc's profile and offcputime print it: kernel frames,
    ``--`` when delimited, user frames, ``-  comm (id)`` and the value; or
    folded, ``comm;user...;-;kernel... value`` root first."""
    both = delimit and kf and uf
    if folded:
        return f"{';'.join([comm, *uf[::-1], *(['-'] if both else []), *kf[::-1]])} {value}\n"
    lines = [f"    {f}\n" for f in kf] + (["    --\n"] if both else []) + \
        [f"    {f}\n" for f in uf]
    return "".join(lines) + f"    {'-':<16} {comm} ({ident})\n        {value}\n\n"
