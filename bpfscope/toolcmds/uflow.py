"""uflow: print the flow of Python function calls and returns of a process, indented by depth.

bcc's uflow for Python: ``CPU PID TID TIME(us) METHOD`` lines, ``->`` on
entry and ``<-`` on return, indented two spaces a level (the depth kept
per thread), ``-C``/``-M`` keeping only files/functions starting with a
prefix. The hooks are CPython's function__entry/return USDT probes, as
for ucalls (with its empty ``line`` probe that turns them on); each call
and return is one record.
"""

from __future__ import annotations

from .common import CONFIG, Plan, Record, ToolParser, add_json, positive_int, record
from .ucalls import LANGUAGES, python_files, switch_on

HOOKS = ("usdt",)

EXAMPLES = """\
    bpfscope uflow -l python 185              # the call flow of process 185
    bpfscope uflow -C app.py 185              # only calls of files starting with app.py
    bpfscope uflow -M handle_ 185             # only functions starting with handle_
"""


def parser() -> ToolParser:
    p = ToolParser("uflow", "Trace method execution flow in high-level languages.", EXAMPLES)
    p.add_argument("-l", "--language", choices=LANGUAGES, default="python",
                   help="language to trace (python)")
    p.add_argument("-M", "--method", help="trace only calls to methods starting with this prefix")
    p.add_argument("-C", "--class", dest="clazz",
                   help="trace only calls to classes (files) starting with this prefix")
    add_json(p)
    p.add_argument("pid", type=positive_int, help="process id to attach to")
    return p


def build(opts) -> Plan:
    files = python_files(opts.pid)
    fields = [("%d", "cpu"), ("%d", "pid"), ("%d", "tid"), ("%llu", "nsecs - @__t0"),
              ("%d", "@__depth[tid]"), ("%s", "str(arg0)"), ("%s", "str(arg1)")]
    entry = ",\n".join(f"usdt:{f}:python:function__entry" for f in files)
    ret = ",\n".join(f"usdt:{f}:python:function__return" for f in files)
    text = (CONFIG + "BEGIN { @__t0 = nsecs; }\n"
            + f"{entry} /pid == {opts.pid}/ {{\n  @__depth[tid] = @__depth[tid] + 1;\n  "
            + record("call", fields) + "\n}\n"
            + f"{ret} /pid == {opts.pid} && @__depth[tid] > 0/ {{\n  "
            + record("return", fields) + "\n  @__depth[tid] = @__depth[tid] - 1;\n}\n"
            + switch_on(files) + "END { clear(@__depth); delete(@__t0); }\n")
    names = ("cpu#", "pid#", "tid#", "ns#", "depth#", "file", "function")

    def line(arrow: str):
        def text_of(v: dict) -> str:
            if opts.clazz and not v["file"].startswith(opts.clazz) or \
                    opts.method and not v["function"].startswith(opts.method):
                return ""
            indent = "  " * (v["depth"] - 1)
            return (f"{v['cpu']:<3} {v['pid']:<6} {v['tid']:<6} {v['ns'] / 1e9:<8.3f} "
                    f"{indent}{arrow} {v['file']}.{v['function']}\n")
        return text_of

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner=f"Tracing method calls in {opts.language} process {opts.pid}... "
                       "Ctrl-C to quit.\n"
                       f"{'CPU':<3} {'PID':<6} {'TID':<6} {'TIME(us)':<8} METHOD\n",
                records={"call": Record(names, line("->")), "return": Record(names, line("<-"))})
