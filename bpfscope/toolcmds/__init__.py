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
as files; :func:`catalog` lists both.
"""

from __future__ import annotations

import importlib
import os
import re

NAMES = ("funccount", "funclatency", "stackcount", "profile", "tplist", "exitsnoop", "mountsnoop", "cpudist", "softirqs", "hardirqs")

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


def catalog() -> list[tuple[str, str, str]]:
    """(name, kind, description) of every tool: the .bt scripts and the
    tools with options, sorted by name."""
    out = []
    for entry in sorted(os.listdir(TOOLS_DIR)):
        if entry.endswith(".bt"):
            out.append((entry[:-3], "script", bt_summary(os.path.join(TOOLS_DIR, entry))))
    for name in NAMES:
        out.append((name, "options", summary(find(name))))
    return sorted(out)


def listing() -> str:
    """The text of ``bpfscope --list-tools``."""
    rows = catalog()
    width = max(len(n) for n, _, _ in rows)
    return "".join(f"{n:<{width}}  {d}\n" for n, _, d in rows)
