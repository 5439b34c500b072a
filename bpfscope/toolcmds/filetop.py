"""filetop: file reads and writes by thread and file, top-like, each interval.

bcc's filetop: every ``interval`` seconds (1 by default) the time and load
average, then ``TID COMM READS WRITES R_Kb W_Kb T FILE`` rows (T: R
regular file, S socket, O other; regular files only unless ``-a``), the
busiest first (``-s``), at most ``-r`` of them; the screen is cleared
first unless ``-C``. bcc hooks vfs_read/vfs_write with kprobes; here the
read/write family of system calls (read, write, pread64, pwrite64, readv,
writev, preadv(2), pwritev(2)) is followed from entry to exit, the file
found through the descriptor (the task's file table, BTF), and the bytes
are those the call moved (bcc adds those asked for). I/O that does not go
through these calls (mmap, sendfile, splice, io_uring) is not counted.
"""

from __future__ import annotations

from .biotop import CLEAR, loadavg_line
from .common import (CONFIG, Plan, Record, ToolParser, add_flags, add_interval_count, add_json,
                     add_pid, every, joined, positive_int, printf, record)

READS = ("read", "pread64", "readv", "preadv", "preadv2")
WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2")
HOOKS = tuple(f"tracepoint:syscalls:sys_{w}_{c}" for c in READS + WRITES
              for w in ("enter", "exit"))

EXAMPLES = """\
    bpfscope filetop            # file I/O top, 1 second refresh
    bpfscope filetop -C         # don't clear the screen
    bpfscope filetop -p 181     # PID 181 only
    bpfscope filetop -a         # sockets, pipes and other files too
    bpfscope filetop -s wbytes  # the most written bytes first
    bpfscope filetop 5          # 5 second summaries
    bpfscope filetop 5 10       # 5 second summaries, 10 times only
"""

MAPS = ["@reads", "@writes", "@rbytes", "@wbytes"]
NAME_LEN = 32   # DNAME_INLINE_LEN: bcc shows longer names cut, ending in "..."


def parser() -> ToolParser:
    p = ToolParser("filetop", "File reads and writes by process", EXAMPLES)
    add_flags(p, ("-a", "--all-files", "include non-regular file types (sockets, FIFOs, etc)"),
              ("-C", "--noclear", "don't clear the screen"))
    p.add_argument("-r", "--maxrows", type=positive_int, default=20, metavar="MAXROWS",
                   help="maximum rows to print, default 20")
    p.add_argument("-s", "--sort", default="all",
                   choices=["all", "reads", "writes", "rbytes", "wbytes"],
                   help="sort column, default all")
    add_pid(p)
    add_json(p)
    add_interval_count(p)
    return p


def _exit_body(count_map: str, bytes_map: str, all_files: bool) -> str:
    keep = "" if all_files else " && ($mode & 0xf000) == 0x8000"
    return (" /has_key(@__fd, tid)/ {\n"
            "  $fd = @__fd[tid];\n  delete(@__fd[tid]);\n"
            "  if (args.ret >= 0) {\n"
            "    $f = curtask->files->fdt->fd[$fd];\n"
            "    $mode = $f->f_inode->i_mode;\n"
            "    $d = $f->f_path.dentry;\n"
            f"    if ($d->d_name.len != 0{keep}) {{\n"
            "      $t = ($mode & 0xf000) == 0x8000 ? 82 : (($mode & 0xf000) == 0xc000 ? 83 : 79);\n"
            f"      $k = (tid, comm, $t, str($d->d_name.name, {NAME_LEN}),"
            f" $d->d_name.len > {NAME_LEN});\n"
            f"      {count_map}[$k] = count();\n      {bytes_map}[$k] = sum(args.ret);\n"
            "    }\n  }\n}\n")


def build(opts) -> Plan:
    if opts.interval is None:
        opts.interval = 1
    pred = f" /pid == {opts.pid}/" if opts.pid else ""
    enters = ",\n".join(f"tracepoint:syscalls:sys_enter_{c}" for c in READS + WRITES)
    text = (CONFIG + enters + pred + " {\n  @__fd[tid] = args.fd;\n}\n"
            + ",\n".join(f"tracepoint:syscalls:sys_exit_{c}" for c in READS)
            + _exit_body("@reads", "@rbytes", opts.all_files)
            + ",\n".join(f"tracepoint:syscalls:sys_exit_{c}" for c in WRITES)
            + _exit_body("@writes", "@wbytes", opts.all_files))
    rep = ("" if opts.json else record("top", [])) + \
        "".join(f" print({m}); clear({m});" for m in MAPS)
    text += every(opts, rep) + "END {\n " + rep + ("" if opts.json else printf("Detaching...\n")) \
        + " clear(@__fd);\n}\n"

    def rows(reads: dict, writes: dict, rbytes: dict, wbytes: dict) -> str:
        cols = {"reads": reads, "writes": writes, "rbytes": rbytes, "wbytes": wbytes}

        def weight(k) -> int:
            if opts.sort == "all":
                return sum(c.get(k, 0) for c in cols.values())
            return cols[opts.sort].get(k, 0)
        out = []
        keys = set(reads) | set(writes)
        for k in sorted(keys, key=weight, reverse=True)[:opts.maxrows]:
            tid, comm, t, name, long = k
            if long:
                name = name[:-3] + "..."
            out.append(f"{tid:<6} {comm:<16} {reads.get(k, 0):<6} {writes.get(k, 0):<6} "
                       f"{rbytes.get(k, 0) // 1024:<7} {wbytes.get(k, 0) // 1024:<7} "
                       f"{chr(t):1} {name}\n")
        return "".join(out)

    def top(_: dict) -> str:
        return ("\n" if opts.noclear else CLEAR) + loadavg_line() + "\n" + \
            f"{'TID':<6} {'COMM':<16} {'READS':<6} {'WRITES':<6} {'R_Kb':<7} {'W_Kb':<7} T FILE\n"

    return Plan(text=text, pid=opts.pid, json=opts.json,
                banner="Tracing... Output every %d secs. Hit Ctrl-C to end\n" % opts.interval,
                formats=joined(MAPS, rows), records={"top": Record((), top)})
