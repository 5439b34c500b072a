"""Start-up cost of BTF loading: ``python -m bpfscope.btf.bench [path]``.

Each measurement runs in a fresh interpreter so nothing is memoized; the
times exclude interpreter start-up. The numbers in README.md come from here.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile

_PRELUDE = """
import json, sys, time
t0 = time.perf_counter()
from bpfscope import btf
from bpfscope.btf import loader, reader
t_import = time.perf_counter() - t0
path = sys.argv[1]
cdir = sys.argv[2]
def lookup(kb):
    ts = kb.get("struct task_struct")
    parent = kb.member(ts, "parent")
    pid = kb.member(kb.type(kb.resolve(parent.type)).type, "pid")
    return parent.offset, pid.offset, kb.type_name(pid.type)
"""

_CASES = {
    "full parse (decode every type)": """
t = time.perf_counter()
kb = btf.from_bytes(open(path, "rb").read(), "vmlinux", use_cache=False)
for i in range(1, kb.count):
    kb.type(i)
""",
    "lazy index (no cache)": """
t = time.perf_counter()
kb = btf.from_bytes(open(path, "rb").read(), "vmlinux", use_cache=False)
""",
    "cached load (index from disk)": """
t = time.perf_counter()
kb = btf.from_bytes(open(path, "rb").read(), "vmlinux", cache_dir=cdir)
""",
    "cached load + task_struct->parent->pid": """
t = time.perf_counter()
kb = btf.from_bytes(open(path, "rb").read(), "vmlinux", cache_dir=cdir)
lookup(kb)
""",
    "lookup task_struct->parent->pid alone": """
kb = btf.from_bytes(open(path, "rb").read(), "vmlinux", cache_dir=cdir)
t = time.perf_counter()
lookup(kb)
""",
}
_EPILOGUE = """
print(json.dumps([time.perf_counter() - t, t_import]))
"""


def run(path: str = "/sys/kernel/btf/vmlinux", repeat: int = 5) -> dict[str, float]:
    out = {}
    with tempfile.TemporaryDirectory() as cdir:
        # Warm the cache once so the cached cases read it.
        subprocess.run([sys.executable, "-c", _PRELUDE + _CASES[
            "cached load (index from disk)"], path, cdir], check=True)
        imports = []
        for name, body in _CASES.items():
            times = []
            for _ in range(repeat):
                r = subprocess.run([sys.executable, "-c", _PRELUDE + body + _EPILOGUE,
                                    path, cdir], check=True, capture_output=True, text=True)
                dt, imp = json.loads(r.stdout)
                times.append(dt)
                imports.append(imp)
            out[name] = statistics.median(times) * 1e3
        out["import bpfscope.btf"] = statistics.median(imports) * 1e3
    return out


def main(argv: list[str]) -> None:
    res = run(*(argv[:1] or []))
    for name, ms in res.items():
        print(f"{name:42s} {ms:8.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
