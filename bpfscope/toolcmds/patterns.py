"""bcc's probe patterns (funccount, funclatency, stackcount) and their
expansion into the probes a bpftrace script names.

The forms bcc takes, plus bpftrace's probe type names::

    vfs_read  k:vfs_*  kprobe:vfs_*  p:vfs_read  f:vfs_read   kernel functions
    c:malloc  p:c:malloc  uprobe:/bin/bash:readline            user functions
    t:syscalls:sys_enter_open*  tracepoint:sched:sched_switch  tracepoints
    u:/path:probe  U:libc:provider:probe  usdt:/path:probe     USDT probes

A library is a path, a short name ("c", "pthread", "libssl"), or a program
in $PATH. ``u:`` is a USDT probe as in bcc; when the file has no USDT probe
of that name, ``u:LIB:NAME`` means its function NAME (bpftrace's ``u:``).

A pattern is a glob where only ``*`` is special (bcc's meaning), or with
``-r`` a Python regular expression matched at the start of the name
(``re.match``, as bcc does). Expansion lists the candidates with the probe
types' own ``-l`` listing and keeps those that match, so the script names
every probe explicitly and the tool knows how many it traces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..attach import providers
from ..attach.uprobe import resolve_target
from .common import ToolError, quote

KERNEL_WORDS = {"", "p", "k", "kprobe", "f", "fentry", "kfunc"}
USER_WORDS = {"p", "uprobe"}
TRACEPOINT_WORDS = {"t", "tracepoint"}
USDT_WORDS = {"u", "U", "usdt"}


@dataclass(frozen=True)
class Pattern:
    """One parsed pattern: ``kind`` is 'kernel', 'user', 'tracepoint' or
    'usdt'; ``library`` the resolved file ('' for kernel and tracepoints);
    ``provider`` a USDT provider when given; ``name`` the glob or regex;
    ``fallback``: a ``u:`` pattern that may mean user functions."""
    kind: str
    library: str
    name: str
    provider: str | None = None
    fallback: bool = False
    text: str = ""


@dataclass(frozen=True)
class Match:
    """One probe to attach: its spec in the script and the name the tool
    prints for it."""
    spec: str
    display: str


def library(name: str, pid: int | None) -> str:
    paths = resolve_target(name, pid)
    if not paths and "/" not in name and not name.startswith("lib"):
        paths = resolve_target("lib" + name, pid)   # bcc: "c" is libc
    if not paths:
        raise ToolError(f"can't resolve library '{name}'")
    return paths[0]


def parse(text: str, pid: int | None = None,
          kinds=("kernel", "user", "tracepoint", "usdt")) -> Pattern:
    """The pattern ``text`` means; a form outside ``kinds`` is an error."""
    parts = text.split(":")
    head = parts[0]
    if len(parts) == 1:
        pat = Pattern("kernel", "", parts[0], text=text)
    elif len(parts) == 2:
        if head in TRACEPOINT_WORDS or head in USDT_WORDS:
            raise ToolError(f"pattern '{text}': {head}: needs two more ':'-separated parts")
        if head in KERNEL_WORDS:
            pat = Pattern("kernel", "", parts[1], text=text)
        else:
            pat = Pattern("user", library(head, pid), parts[1], text=text)
    elif len(parts) == 3 and head in TRACEPOINT_WORDS:
        pat = Pattern("tracepoint", "", f"{parts[1]}:{parts[2]}", text=text)
    elif len(parts) == 3 and head in USER_WORDS:
        pat = Pattern("user", library(parts[1], pid), parts[2], text=text)
    elif len(parts) in (3, 4) and head in USDT_WORDS:
        provider = parts[2] if len(parts) == 4 else None
        pat = Pattern("usdt", library(parts[1], pid), parts[-1], provider,
                      fallback=head == "u" and len(parts) == 3, text=text)
    elif len(parts) == 3:
        raise ToolError(f"pattern '{text}': type must be 'p', 't', 'u' or a probe type "
                        f"name, but got '{head}'")
    else:
        raise ToolError(f"too many ':'-separated components in pattern '{text}'")
    if not pat.name:
        raise ToolError(f"pattern '{text}' names no function")
    if pat.kind not in kinds:
        what = {"kernel": "kernel functions", "user": "user functions",
                "tracepoint": "tracepoints", "usdt": "USDT probes"}[pat.kind]
        raise ToolError(f"pattern '{text}': this tool does not trace {what}")
    return pat


def matcher(name: str, regex: bool):
    """A function telling whether a candidate name matches ``name``."""
    if not regex:
        name = "^" + ".*".join(re.escape(p) for p in name.split("*")) + "$"
    try:
        rx = re.compile(name)
    except re.error as e:
        raise ToolError(f"bad regular expression '{name}': {e}") from None
    return lambda candidate: rx.match(candidate) is not None


def _listed(pattern: str, pid: int | None) -> list[str]:
    try:
        return providers.listing(pattern, False, providers.ProbeOptions(pid=pid))
    except Exception as e:  # noqa: BLE001 - a file we cannot read lists nothing
        raise ToolError(f"cannot list '{pattern}': {e}") from None


def expand(pat: Pattern, regex: bool = False, pid: int | None = None) -> list[Match]:
    """The probes ``pat`` matches, in listing order; an error when none."""
    ok = matcher(pat.name, regex)
    out: list[Match] = []
    if pat.kind == "kernel":
        for line in _listed("kprobe:*", pid):
            name = line.split(":", 1)[1]
            if ":" not in name and ok(name):   # module functions: kprobe:mod:func
                out.append(Match(f"kprobe:{quote(name)}", name))
    elif pat.kind == "tracepoint":
        for line in _listed("tracepoint:*", pid):
            name = line.split(":", 1)[1]
            if ok(name):
                cat, _, event = name.partition(":")
                out.append(Match(f"tracepoint:{cat}:{event}", name))
    elif pat.kind == "user":
        out = _user(pat.library, ok, pid)
    else:
        prov_ok = matcher(pat.provider, regex) if pat.provider else (lambda _: True)
        for line in _listed(f"usdt:{pat.library}:*:*", pid):
            _, path, provider, name = line.rsplit(":", 3)
            if prov_ok(provider) and ok(name):
                shown = f"{provider}:{name}" if pat.provider else name
                out.append(Match(f"usdt:{path}:{quote(provider)}:{quote(name)}", shown))
        if not out and pat.fallback:
            out = _user(pat.library, ok, pid)
    if not out:
        raise ToolError(f"no functions matched by pattern '{pat.text}'")
    return out


def _user(library: str, ok, pid: int | None) -> list[Match]:
    out = []
    prefix = f"uprobe:{library}:"
    for line in _listed(prefix + "*", pid):
        name = line[len(prefix):]
        if ok(name):
            out.append(Match(f"uprobe:{library}:{quote(name)}", name))
    return out


def returns(matches: list[Match]) -> list[Match]:
    """The return probes of function probes (kretprobe, uretprobe)."""
    return [Match(m.spec.replace("kprobe:", "kretprobe:", 1).replace("uprobe:", "uretprobe:", 1),
                  m.display) for m in matches]


def display_names(matches: list[Match]) -> dict[str, str]:
    """The value of the ``probe`` builtin -> the name the tool prints."""
    out = {}
    for m in matches:
        out[m.spec] = m.display
        out[m.spec.replace('"', "")] = m.display
    return out


def probe_list(matches: list[Match]) -> str:
    return ",\n".join(m.spec for m in matches)
