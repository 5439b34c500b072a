"""memleak: outstanding memory allocations by stack, of one process (libc) or of the kernel.

bcc's memleak: every ``interval`` seconds (5 by default; and when the
trace ends) ``[HH:MM:SS] Top N stacks with outstanding allocations:``, each
as ``B bytes in N allocations from stack`` and its frames. With ``-p PID``
or ``-c CMD`` the probes are uprobes on libc's malloc, calloc, realloc,
aligned_alloc, memalign, valloc and free in that process (user stacks);
without, the kmem tracepoints kmalloc, kmem_cache_alloc, kfree and
kmem_cache_free (kernel stacks). Each allocation's size and stack are kept
by address until it is freed; an allocation is outstanding from the
moment it is made (bcc's ``-o`` age filter is not offered).
"""

from __future__ import annotations

import time

from . import bccfmt
from .common import (CONFIG, Plan, Record, ToolParser, add_json, add_pid, every, joined,
                     positive_int, record)
from .patterns import library

HOOKS = ("tracepoint:kmem:kmalloc", "tracepoint:kmem:kfree")

EXAMPLES = """\
    bpfscope memleak -p 185               # outstanding allocations of PID 185, every 5 s
    bpfscope memleak -p 185 -T 3 10 2     # the top 3 stacks every 10 seconds, twice
    bpfscope memleak -c './allocs'        # run ./allocs and trace it
    bpfscope memleak -p 185 -z 4096       # only allocations of 4096 bytes or more
    bpfscope memleak                      # kernel allocations (kmalloc, kmem_cache_alloc)
"""

# user allocators: name -> the size expression at their entry
ALLOCATORS = {"malloc": "arg0", "calloc": "arg0 * arg1", "realloc": "arg1",
              "aligned_alloc": "arg1", "memalign": "arg1", "valloc": "arg0"}


def parser() -> ToolParser:
    p = ToolParser("memleak", "Trace outstanding memory allocations that weren't freed.",
                   EXAMPLES)
    add_pid(p, "the PID to trace; if not specified, trace kernel allocs")
    p.add_argument("-c", "--command", metavar="COMMAND", help="execute and trace the command")
    p.add_argument("-T", "--top", type=positive_int, default=10, metavar="TOP",
                   help="display only this many top allocating stacks (by size)")
    p.add_argument("-z", "--min-size", type=positive_int, metavar="MIN_SIZE",
                   help="capture only allocations larger than or equal to this size")
    p.add_argument("-Z", "--max-size", type=positive_int, metavar="MAX_SIZE",
                   help="capture only allocations smaller than or equal to this size")
    p.add_argument("-O", "--obj", default="c", metavar="OBJ",
                   help="attach to allocator functions in the specified object (default: libc)")
    add_json(p)
    p.add_argument("interval", nargs="?", type=positive_int, default=5,
                   help="interval in seconds to print outstanding allocations")
    p.add_argument("count", nargs="?", type=positive_int,
                   help="number of times to print the report before exiting")
    return p


def _track(ptr: str, size: str, stack: str) -> str:
    return (f"@__size[{ptr}] = {size}; @__stack[{ptr}] = {stack};\n"
            # signed: a free subtracts, and per-CPU parts may go below zero
            f"    @bytes[{stack}] = sum((int64)({size})); @allocs[{stack}] = sum(1);")


def _untrack(ptr: str) -> str:
    return (f"if (@__size[{ptr}]) {{\n"
            f"    @bytes[@__stack[{ptr}]] = sum(-@__size[{ptr}]); "
            f"@allocs[@__stack[{ptr}]] = sum(-1);\n"
            f"    delete(@__size[{ptr}]); delete(@__stack[{ptr}]);\n  }}")


def _size_ok(opts, size: str) -> str:
    conds = ([f"{size} >= {opts.min_size}"] if opts.min_size else []) + \
        ([f"{size} <= {opts.max_size}"] if opts.max_size else [])
    return " && ".join(conds) or "1"


def user_probes(opts, lib: str) -> str:
    who = f"pid == {opts.pid}" if opts.pid else "pid == cpid"
    out = []
    for name, size in ALLOCATORS.items():
        free_old = "  " + _untrack("arg0") + "\n" if name == "realloc" else ""
        out.append(f"uprobe:{lib}:{name} /{who}/ {{\n{free_old}"
                   f"  if ({_size_ok(opts, size)}) {{ @__req[tid] = {size}; }}\n}}\n")
    rets = ",\n".join(f"uretprobe:{lib}:{name}" for name in ALLOCATORS)
    out.append(f"{rets} /@__req[tid]/ {{\n  if (retval != 0) {{\n    "
               + _track("retval", "@__req[tid]", "ustack") + "\n  }\n  delete(@__req[tid]);\n}\n")
    out.append(f"uprobe:{lib}:free /{who}/ {{\n  " + _untrack("arg0") + "\n}\n")
    return "".join(out)


def kernel_probes(opts) -> str:
    ok = _size_ok(opts, "args.bytes_alloc")
    return ("tracepoint:kmem:kmalloc, tracepoint:kmem:kmem_cache_alloc {\n"
            f"  if (args.ptr != 0 && {ok}) {{\n    "
            + _track("(uint64)args.ptr", "args.bytes_alloc", "kstack") + "\n  }\n}\n"
            "tracepoint:kmem:kfree, tracepoint:kmem:kmem_cache_free {\n  "
            + _untrack("(uint64)args.ptr") + "\n}\n")


def build(opts) -> Plan:
    user = bool(opts.pid or opts.command)
    probes = user_probes(opts, library(opts.obj, opts.pid)) if user else kernel_probes(opts)
    rep = record("top", []) + " print(@allocs); print(@bytes);"
    if opts.json:
        rep = "print(@allocs); print(@bytes);"
    text = (CONFIG.replace(" }", "; max_map_keys = 1000000 }") + probes
            + every(opts, rep) + "END {\n  " + rep
            + "\n  clear(@__size); clear(@__stack);" + (" clear(@__req);" if user else "")
            + "\n}\n")
    def outstanding(counts: dict, sizes: dict) -> str:
        rows = sorted(((v, counts.get(k, 0), k[0]) for k, v in sizes.items()
                       if v > 0 and counts.get(k, 0) > 0),
                      key=lambda r: r[0])[-opts.top:]
        out = []
        for size, n, stack in rows:
            frames = "".join(f"\n\t\t0x{a:016x}\t{f}" for a, f in
                             zip(stack.addrs, bccfmt.frames(stack, offsets=True)))
            out.append(f"\t{size} bytes in {n} allocations from stack{frames}\n")
        return "".join(out)

    def top(_: dict) -> str:
        return (f"[{time.strftime('%H:%M:%S')}] Top {opts.top} stacks with outstanding "
                "allocations:\n")

    banner = (f"Attaching to pid {opts.pid}, Ctrl+C to quit.\n" if opts.pid else
              "Attaching to the command, Ctrl+C to quit.\n" if opts.command else
              "Attaching to kernel allocators, Ctrl+C to quit.\n")
    return Plan(text=text, pid=opts.pid, cmd=opts.command, json=opts.json, banner=banner,
                formats=joined(["@allocs", "@bytes"], outstanding),
                records={"top": Record((), top)})
