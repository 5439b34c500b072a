"""memleak: outstanding memory allocations by stack, of one process (libc) or of the kernel.

bcc's memleak: every ``interval`` seconds (5 by default; and when the
trace ends) ``[HH:MM:SS] Top N stacks with outstanding allocations:``, each
as ``B bytes in N allocations from stack`` and its frames. With ``-p PID``
or ``-c CMD`` the probes are uprobes on libc's malloc, calloc, realloc,
aligned_alloc, memalign, valloc and free in that process (user stacks);
without, the kmem tracepoints kmalloc, kmem_cache_alloc, kfree and
kmem_cache_free (kernel stacks; ``--percpu``: the percpu allocator's
tracepoints). Each allocation's size, stack and time are kept by address
until it is freed; the report groups those older than ``-o`` ms (500 by
default, as bcc) by stack in user space, ``-a`` listing each one's
address and size first. ``--combined-only`` keeps only per-stack totals in
the kernel (no age filter, and bcc's frames without their addresses);
``-s N`` samples the allocations made at a ``nsecs`` divisible by N; ``-t``
prints a line per allocation and free, as bcc's trace_fields tuples, and no
reports.
"""

from __future__ import annotations

import time

from . import bccfmt
from .common import (CONFIG, Plan, Record, ToolError, ToolParser, add_json, add_pid, every, joined,
                     positive_int, record)
from .patterns import library

HOOKS = ("tracepoint:kmem:kmalloc", "tracepoint:kmem:kfree")

EXAMPLES = """\
    bpfscope memleak -p 185               # outstanding allocations of PID 185, every 5 s
    bpfscope memleak -p 185 -T 3 10 2     # the top 3 stacks every 10 seconds, twice
    bpfscope memleak -c './allocs'        # run ./allocs and trace it
    bpfscope memleak -p 185 -z 4096       # only allocations of 4096 bytes or more
    bpfscope memleak -ap 185 10           # and each outstanding allocation's address and size
    bpfscope memleak -p 185 -t            # a line per allocation and free
    bpfscope memleak -o 60000             # kernel allocations at least a minute old
    bpfscope memleak -s 5                 # about every 5th allocation, to cost less
    bpfscope memleak --sort count         # the stacks with most allocations last
    bpfscope memleak --percpu             # the kernel's per-CPU allocations
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
    p.add_argument("-t", "--trace", action="store_true",
                   help="print trace messages for each alloc/free call")
    p.add_argument("-a", "--show-allocs", action="store_true",
                   help="show allocation addresses and sizes as well as call stacks")
    p.add_argument("-o", "--older", type=int, default=500, metavar="OLDER",
                   help="prune allocations younger than this age in milliseconds")
    p.add_argument("--combined-only", action="store_true",
                   help="show combined allocation statistics only")
    p.add_argument("-s", "--sample-rate", type=positive_int, default=1, metavar="SAMPLE_RATE",
                   help="sample every N-th allocation to decrease the overhead")
    p.add_argument("--sort", choices=("size", "count"), default="size",
                   help="report sorted in given key; available key list: size, count")
    p.add_argument("--percpu", action="store_true", help="trace percpu allocations")
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


def _totals(opts) -> bool:
    """Whether the kernel keeps per-stack totals: --combined-only's report,
    and JSON's (its @allocs and @bytes maps)."""
    return opts.combined_only or opts.json


def _trace(opts, fmt: str, *args: str) -> str:
    """-t's line: bcc prints each bpf_trace_printk message as the tuple
    trace_fields() gives (task, pid, cpu, flags, seconds, message)."""
    if not opts.trace:
        return ""
    rest = "".join(f", {a}" for a in args)
    return ("\n    printf(\"(b'%s', %d, %d, b'....', %d.%06d, b'" + fmt + "')\\n\", "
            f"comm, tid, cpu, nsecs / 1000000000, nsecs % 1000000000 / 1000{rest});")


def _track(opts, ptr: str, size: str, stack: str) -> str:
    out = f"@__size[{ptr}] = {size}; @__stack[{ptr}] = {stack};"
    if not opts.combined_only:
        out += f" @__ts[{ptr}] = nsecs;"
    if _totals(opts):
        # signed: a free subtracts, and per-CPU parts may go below zero
        out += (f"\n    @bytes[{stack}] = sum((int64)({size})); @allocs[{stack}] = sum(1);")
    return out


def _untrack(opts, ptr: str) -> str:
    totals = (f"\n    @bytes[@__stack[{ptr}]] = sum(-@__size[{ptr}]); "
              f"@allocs[@__stack[{ptr}]] = sum(-1);") if _totals(opts) else ""
    ts = "" if opts.combined_only else f" delete(@__ts[{ptr}]);"
    return (f"if (@__size[{ptr}]) {{"
            + _trace(opts, "free entered, address = %lx, size = %lu", ptr, f"@__size[{ptr}]")
            + totals + f"\n    delete(@__size[{ptr}]); delete(@__stack[{ptr}]);{ts}\n  }}")


def _size_ok(opts, size: str) -> str:
    conds = ([f"{size} >= {opts.min_size}"] if opts.min_size else []) + \
        ([f"{size} <= {opts.max_size}"] if opts.max_size else []) + \
        ([f"nsecs % {opts.sample_rate} == 0"] if opts.sample_rate > 1 else [])
    return " && ".join(conds) or "1"


def user_probes(opts, lib: str) -> str:
    who = f"pid == {opts.pid}" if opts.pid else "pid == cpid"
    out = []
    for name, size in ALLOCATORS.items():
        free_old = "  " + _untrack(opts, "arg0") + "\n" if name == "realloc" else ""
        out.append(f"uprobe:{lib}:{name} /{who}/ {{\n{free_old}"
                   f"  if ({_size_ok(opts, size)}) {{ @__req[tid] = {size};"
                   + _trace(opts, "alloc entered, size = %u", size) + " }\n}\n")
    rets = ",\n".join(f"uretprobe:{lib}:{name}" for name in ALLOCATORS)
    out.append(f"{rets} /@__req[tid]/ {{\n  if (retval != 0) {{\n    "
               + _track(opts, "retval", "@__req[tid]", "ustack") + "\n  }"
               + _trace(opts, "alloc exited, size = %lu, result = %lx", "@__req[tid]", "retval")
               + "\n  delete(@__req[tid]);\n}\n")
    out.append(f"uprobe:{lib}:free /{who}/ {{\n  " + _untrack(opts, "arg0") + "\n}\n")
    return "".join(out)


def kernel_probes(opts) -> str:
    if opts.percpu:
        allocs, frees, size = ("tracepoint:percpu:percpu_alloc_percpu",
                               "tracepoint:percpu:percpu_free_percpu", "args.size")
    else:
        allocs = "tracepoint:kmem:kmalloc, tracepoint:kmem:kmem_cache_alloc"
        frees = "tracepoint:kmem:kfree, tracepoint:kmem:kmem_cache_free"
        size = "args.bytes_alloc"
    ptr = "(uint64)args.ptr"
    return (f"{allocs} {{\n"
            f"  if (args.ptr != 0 && {_size_ok(opts, size)}) {{"
            + _trace(opts, "alloc entered, size = %u", size) + "\n    "
            + _track(opts, ptr, size, "kstack")
            + _trace(opts, "alloc exited, size = %lu, result = %lx", size, ptr) + "\n  }\n}\n"
            f"{frees} {{\n  " + _untrack(opts, ptr) + "\n}\n")


def _stack_text(stack, addresses: bool) -> str:
    names = bccfmt.frames(stack, offsets=True)
    if addresses:
        return "".join(f"\n\t\t0x{a:016x}\t{f}" for a, f in zip(stack.addrs, names))
    return "".join(f"\n\t\t{f}" for f in names)


def build(opts) -> Plan:
    if opts.min_size and opts.max_size and opts.min_size > opts.max_size:
        raise ToolError("min_size (-z) can't be greater than max_size (-Z)")
    if opts.older < 0:
        raise ToolError(f"-o {opts.older}: the age must not be negative")
    user = bool(opts.pid or opts.command)
    if opts.percpu and user:
        raise ToolError("--percpu traces the kernel's allocations: give no -p or -c")
    probes = user_probes(opts, library(opts.obj, opts.pid)) if user else kernel_probes(opts)
    names = ["@allocs", "@bytes"] if opts.combined_only else ["@__size", "@__stack", "@__ts"]
    rep = record("top", []) + "".join(f" print({n});" for n in names)
    if opts.json:
        rep = "print(@allocs); print(@bytes);"
    if opts.trace:   # bcc's -t prints the calls only
        rep = ""
    clear = " clear(@__size); clear(@__stack);" + ("" if opts.combined_only else " clear(@__ts);")
    text = (CONFIG.replace(" }", "; max_map_keys = 1000000 }") + probes
            + (every(opts, rep) if rep else "") + "END {\n  " + rep
            + "\n " + clear + (" clear(@__req);" if user else "")
            + "\n}\n")
    order = 1 if opts.sort == "size" else 2   # the place in a (stack, bytes, count) row

    def shown(rows: list) -> str:
        rows = sorted(rows, key=lambda r: r[order])[-opts.top:]
        return "".join(f"\t{size} bytes in {n} allocations from stack"
                       f"{_stack_text(stack, not opts.combined_only)}\n"
                       for stack, size, n in rows)

    def combined(counts: dict, sizes: dict) -> str:
        return shown([(k[0], v, counts.get(k, 0)) for k, v in sizes.items()
                      if v > 0 and counts.get(k, 0) > 0])

    def outstanding(sizes: dict, stacks: dict, times: dict) -> str:
        # as bcc: the allocations old enough, smallest first, grouped by stack
        young = time.monotonic_ns() - opts.older * 1_000_000
        groups: dict[tuple, list] = {}
        listed = []
        for key, size in sorted(sizes.items(), key=lambda e: e[1]):
            stack = stacks.get(key)
            if stack is None or times.get(key, young) > young:
                continue
            g = groups.setdefault((stack.kind, stack.addrs), [stack, 0, 0])
            g[1] += size
            g[2] += 1
            if opts.show_allocs:
                listed.append(f"\taddr = {key[0]:x} size = {size}\n")
        return "".join(listed) + shown([tuple(g) for g in groups.values()])

    def top(_: dict) -> str:
        return (f"[{time.strftime('%H:%M:%S')}] Top {opts.top} stacks with outstanding "
                "allocations:\n")

    banner = (f"Attaching to pid {opts.pid}, Ctrl+C to quit.\n" if opts.pid else
              "Attaching to the command, Ctrl+C to quit.\n" if opts.command else
              "Attaching to kernel allocators, Ctrl+C to quit.\n")
    return Plan(text=text, pid=opts.pid, cmd=opts.command, json=opts.json, banner=banner,
                formats=joined(names, combined if opts.combined_only else outstanding),
                records={"top": Record((), top)})
