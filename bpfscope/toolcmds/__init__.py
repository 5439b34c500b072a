"""Tools with options: bcc's generic tools (funccount, funclatency,
stackcount, profile, tplist, ...) as bpfscope commands.

A tool is one module here with a docstring whose first line says what it
shows, and:

- ``parser()``: its argparse parser (options, usage text, examples for ``-h``);
- ``build(opts) -> Plan``: the bpftrace script made from the parsed options
  and how its maps print (``common.Plan``).

``bpfscope NAME ARGS...`` parses ARGS with the tool's parser, and the CLI
compiles and runs the plan's script as any other (cli._tool_main).
The .bt scripts in bpfscope/tools/ are the other kind of tool, run by name
as files; :func:`catalog` lists both, with whether this kernel can run
them: a tool module's ``HOOKS`` names the probes it attaches (the probe
types' ``status()`` and the tracepoints' presence decide), ``HOOKS =
None`` says the user's pattern decides (funccount and the like); a .bt
script's probes are read from its text.
"""

from __future__ import annotations

import importlib
import os
import re

from ..attach import providers
from ..attach.tracepoint import EVENTS_DIR

NAMES = ("funccount", "funclatency", "stackcount", "profile", "tplist", "exitsnoop",
         "mountsnoop", "cpudist", "softirqs", "hardirqs", "funcslower", "tcprtt", "wakeuptime",
         "memleak", "biotop", "llcstat", "ucalls", "uflow", "trace", "argdist", "drsnoop",
         "biosnoop", "offcputime", "sslsniff", "tcptop", "filetop", "cachestat", "ext4slower",
         "xfsslower", "fileslower")

PMU_DIR = "/sys/bus/event_source/devices/cpu"
TOOLS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools")


def find(name: str):
    """The module of tool ``name``, or None."""
    if name not in NAMES:
        return None
    return importlib.import_module(f"{__name__}.{name}")


def summary(module) -> str:
    """The first line of a tool module's docstring, after 'name: '."""
    first = (module.__doc__ or "").strip().splitlines()[0]
    return first.split(": ", 1)[1] if ": " in first else first


def bt_comment(path: str) -> str:
    """The text of the comment a .bt tool opens with, without its stars."""
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4000)
    m = re.search(r"/\*(.*?)\*/", head, re.S)
    if not m:
        return ""
    lines = [re.sub(r"^\s*\* ?", "", line).rstrip() for line in m.group(1).splitlines()]
    return "\n".join(lines).strip("\n")


def bt_help(name: str) -> str | None:
    """``bpfscope NAME -h`` for a .bt tool: its comment, and how bpfscope's
    own options apply to it (None: no such tool)."""
    path = os.path.join(TOOLS_DIR, name + ".bt")
    if not os.path.isfile(path):
        return None
    return (f"usage: bpfscope [options] {name} [script parameters]\n\n"
            f"{bt_comment(path)}\n\n"
            "options: bpfscope's own (bpfscope -h), among them:\n"
            "  -c CMD      run CMD and trace while it runs\n"
            "  -p PID      uprobes and USDT probes fire only in PID; the trace ends with it\n"
            "  -f json     JSON output\n"
            "  -o FILE     write the output to FILE\n"
            "  -q          no 'Attached' message\n\n"
            "examples:\n"
            f"    bpfscope {name}                  # trace until Ctrl-C\n"
            f"    bpfscope {name} -c 'sleep 1'     # trace while a command runs\n"
            f"    bpfscope -f json {name}          # the same, as JSON records\n"
            f"    bpfscope -o {name}.out {name}    # write what it prints to a file\n")


def bt_summary(path: str) -> str:
    """The description a .bt tool opens with (its comment's first
    sentence, after 'name: ')."""
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(2000)
    m = re.search(r"/\*(.*?)\*/", head, re.S)
    if not m:
        return ""
    text = " ".join(line.strip(" *") for line in m.group(1).splitlines()).strip()
    text = text.split(": ", 1)[1] if ": " in text.split(" ", 1)[0] + " " else text
    end = re.search(r"\.(\s|$)", text)
    return text[:end.start() + 1] if end else text


_PROBE = re.compile(r"(?:^|,)\s*([A-Za-z]+:[^\s{/,]*)", re.M)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def bt_hooks(path: str) -> list[str]:
    """The attach points a .bt script names (outside comments and strings
    is good enough: probes start a line or follow a comma)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = _COMMENT.sub("", f.read())
    return [m.group(1) for m in _PROBE.finditer(text)
            if m.group(1).split(":", 1)[0] in providers.PROVIDERS or
            m.group(1).split(":", 1)[0] in providers.ALIASES]


_KADDR = re.compile(r'\bkaddr\(\s*"([^"]+)"\s*\)')


def bt_kaddrs(path: str) -> list[str]:
    """The kernel symbols a .bt script takes the address of (kaddr)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return _KADDR.findall(_COMMENT.sub("", f.read()))


def symbol_status(names) -> str | None:
    """Why this kernel cannot give the addresses of symbols ``names``
    (None: it can); loads' avenrun is a data symbol that kallsyms lists
    only with CONFIG_KALLSYMS_ALL."""
    if not names:
        return None
    from ..ksyms import kernel_symbols
    try:
        table = kernel_symbols()
        missing = [n for n in names if not table.lookup_name(n)]
    except OSError as e:
        return f"/proc/kallsyms: {e.strerror}"
    return f"/proc/kallsyms has no symbol {missing[0]}" if missing else None


def script_status(path: str) -> str | None:
    """Why this kernel cannot run the .bt script at ``path`` (None: it can)."""
    return hook_status(bt_hooks(path)) or symbol_status(bt_kaddrs(path))


def hook_status(specs) -> str | None:
    """Why this kernel cannot attach ``specs`` (None: it can). A kprobe
    may run as fentry, so it fails only when both do."""
    for spec in specs:
        word, _, rest = spec.partition(":")
        name = providers.ALIASES.get(word, word)
        prov = providers.PROVIDERS.get(name)
        if prov is None:
            continue
        why = prov.status()
        if why and name in ("kprobe", "kretprobe"):
            alt = providers.PROVIDERS["fentry"].status()
            why = None if alt is None else f"{why} and {alt}"
        if why:
            return why
        if name == "hardware" and not os.path.exists(PMU_DIR):   # as --info tells it
            return "this machine has no hardware performance counters"
        if name == "tracepoint" and "*" not in rest and \
                not os.path.isdir(os.path.join(EVENTS_DIR, *rest.split(":", 1))):
            return f"this kernel has no tracepoint {rest}"
    return None


def _module_status(module) -> str | None:
    hooks = getattr(module, "HOOKS", ())
    if hooks is None:   # the pattern decides: kernel functions may not work
        why = hook_status(["kprobe:x"])
        return f"kernel functions: {why}" if why else None
    return hook_status(hooks)


def catalog() -> list[tuple[str, str, str, str | None]]:
    """(name, kind, description, why it cannot run here or None) of every
    tool: the .bt scripts and the tools with options, sorted by name."""
    out = []
    for entry in sorted(os.listdir(TOOLS_DIR)):
        if entry.endswith(".bt") and entry[:-3] not in NAMES:   # else the command runs it
            path = os.path.join(TOOLS_DIR, entry)
            out.append((entry[:-3], "script", bt_summary(path), script_status(path)))
    for name in NAMES:
        module = find(name)
        out.append((name, "options", summary(module), _module_status(module)))
    return sorted(out)


def listing() -> str:
    """The text of ``bpfscope --list-tools``: name, whether it runs here
    and its description (a tool whose pattern decides says 'yes' and what
    part of it cannot)."""
    rows = catalog()
    width = max(len(n) for n, _, _, _ in rows)
    lines = [f"{'TOOL':<{width}}  HERE  DESCRIPTION\n"]
    for name, _, desc, why in rows:
        partial = why is not None and why.startswith("kernel functions:")
        here = "yes" if why is None or partial else "no"
        note = f" [{why}]" if why else ""
        lines.append(f"{name:<{width}}  {here:<4}  {desc}{note}\n")
    return "".join(lines)
