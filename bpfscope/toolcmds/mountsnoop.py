"""mountsnoop: trace mount() and umount() calls system wide, with their arguments and result.

bcc's mountsnoop: ``COMM PID TID MNT_NS CALL``, the call written out as
``mount("src", "target", "type", MS_FLAGS, "data") = 0`` or
``umount("target", MNT_FLAGS) = -EINVAL``. The hooks are the syscall
tracepoints: the entry sends the arguments, the exit the result, and the
line is printed when the call returns (JSON: both records as they come).
"""

from __future__ import annotations

import errno

from .common import CONFIG, Plan, Record, ToolParser, add_json, record

HOOKS = ("tracepoint:syscalls:sys_enter_mount", "tracepoint:syscalls:sys_exit_umount")

EXAMPLES = """\
    bpfscope mountsnoop      # trace mount() and umount() calls system wide
    bpfscope mountsnoop -j   # the same, as JSON records
"""

MOUNT_FLAGS = [("MS_RDONLY", 1), ("MS_NOSUID", 2), ("MS_NODEV", 4), ("MS_NOEXEC", 8),
               ("MS_SYNCHRONOUS", 16), ("MS_REMOUNT", 32), ("MS_MANDLOCK", 64),
               ("MS_DIRSYNC", 128), ("MS_NOATIME", 1024), ("MS_NODIRATIME", 2048),
               ("MS_BIND", 4096), ("MS_MOVE", 8192), ("MS_REC", 16384),
               ("MS_SILENT", 32768), ("MS_POSIXACL", 1 << 16), ("MS_UNBINDABLE", 1 << 17),
               ("MS_PRIVATE", 1 << 18), ("MS_SLAVE", 1 << 19), ("MS_SHARED", 1 << 20),
               ("MS_RELATIME", 1 << 21), ("MS_KERNMOUNT", 1 << 22), ("MS_I_VERSION", 1 << 23),
               ("MS_STRICTATIME", 1 << 24), ("MS_LAZYTIME", 1 << 25), ("MS_ACTIVE", 1 << 30),
               ("MS_NOUSER", 1 << 31)]
UMOUNT_FLAGS = [("MNT_FORCE", 1), ("MNT_DETACH", 2), ("MNT_EXPIRE", 4), ("UMOUNT_NOFOLLOW", 8)]


def parser() -> ToolParser:
    p = ToolParser("mountsnoop", "Trace mount() and umount syscalls", EXAMPLES)
    add_json(p)
    return p


def flags_text(flags: int, names) -> str:
    """bcc's flag words: the names of the bits set, what is left in hex."""
    out = []
    for name, bit in names:
        if flags & bit:
            out.append(name)
        flags &= ~bit
    if flags or not out:
        out.append(f"0x{flags:x}")
    return "|".join(out)


def errno_text(ret: int) -> str:
    return "-" + errno.errorcode[-ret] if -ret in errno.errorcode else str(ret)


def quoted(s: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else
                         "\\" + c if c in '"\\' else f"\\x{ord(c):02x}" for c in s) + '"'


def build(opts) -> Plan:
    who = [("%s", "comm"), ("%d", "pid"), ("%d", "tid"),
           ("%u", "curtask->nsproxy->mnt_ns->ns.inum")]
    text = (CONFIG
            + "tracepoint:syscalls:sys_enter_mount {\n  "
            + record("mount", who + [("%s", "str(args.dev_name)"), ("%s", "str(args.dir_name)"),
                                     ("%s", "str(args.type)"), ("%lu", "args.flags"),
                                     ("%s", "str(args.data)")]) + "\n}\n"
            + "tracepoint:syscalls:sys_enter_umount {\n  "
            + record("umount", who + [("%s", "str(args.name)"), ("%d", "args.flags")]) + "\n}\n"
            + "tracepoint:syscalls:sys_exit_mount, tracepoint:syscalls:sys_exit_umount {\n  "
            + record("ret", [("%d", "tid"), ("%d", "args.ret")]) + "\n}\n")
    calls: dict[int, str] = {}

    def mount(v: dict) -> str:
        calls[v["tid"]] = (f"{v['comm']:<16} {v['pid']:<7} {v['tid']:<7} {v['mnt_ns']:<11} "
                           f"mount({quoted(v['source'])}, {quoted(v['target'])}, "
                           f"{quoted(v['type'])}, {flags_text(v['flags'], MOUNT_FLAGS)}, "
                           f"{quoted(v['data'])})")
        return ""

    def umount(v: dict) -> str:
        calls[v["tid"]] = (f"{v['comm']:<16} {v['pid']:<7} {v['tid']:<7} {v['mnt_ns']:<11} "
                           f"umount({quoted(v['target'])}, "
                           f"{flags_text(v['flags'], UMOUNT_FLAGS)})")
        return ""

    def ret(v: dict) -> str:
        call = calls.pop(v["tid"], None)
        return f"{call} = {errno_text(v['ret'])}\n" if call else ""

    who_fields = ("comm", "pid#", "tid#", "mnt_ns#")
    return Plan(text=text, json=opts.json,
                banner=f"{'COMM':<16} {'PID':<7} {'TID':<7} {'MNT_NS':<11} CALL\n",
                records={"mount": Record(who_fields + ("source", "target", "type", "flags#",
                                                       "data"), mount),
                         "umount": Record(who_fields + ("target", "flags#"), umount),
                         "ret": Record(("tid#", "ret#"), ret)})
