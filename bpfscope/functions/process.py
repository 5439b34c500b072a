"""The process family: pid(), tid() (in bpfscope's or the initial pid
namespace), cgroupid(), and the numbers user space names (strerror,
signal_name, syscall_name) or paths (cgroup_path); and the builtin
variables of the current task: pid, tid, uid, gid, username, comm, ppid,
curtask, cgroup, cpid."""

from __future__ import annotations

import os

from ..codegen.insn import R0, R1, R2, R3, R4, R10, Label
from ..codegen.loweringvalues import Int
from ..errors import SemanticError
from ..lang import ast
from ..sema import types as T
from ..sema.registry import BuiltinVar, Function, register
from .common import helper_value, lower_argument, of_type

PID_NAMESPACES = ("curr_ns", "init")
PROC_PID_INIT_INO = 0xEFFFFFFC  # the initial pid namespace's inode


def check_pid(an, e: ast.Call) -> T.Type:
    """pid([curr_ns|init]) and tid(...): as seen from bpfscope's pid
    namespace (the default) or from the initial one."""
    an.nargs(e, 0, 1)
    if e.args and not (isinstance(e.args[0], ast.Identifier)
                       and e.args[0].name in PID_NAMESPACES):
        an.err(f"{e.name}() expects one of: " + ", ".join(PID_NAMESPACES), e.args[0].span)
    return T.UINT32


def lower_pid(lw, e: ast.Call) -> Int:
    """pid()/tid() as seen from the initial pid namespace, or from
    bpfscope's own when that is another (bpf_get_ns_current_pid_tgid).
    The builtins pid and tid are lowered here too."""
    b = lw.b
    r = b.vreg()
    try:
        ns = os.stat("/proc/self/ns/pid")
    except OSError:  # no /proc: take the namespace to be the initial one
        ns = None
    if e.args and e.args[0].name == "init" or ns is None or \
            ns.st_ino == PROC_PID_INIT_INO:
        return helper_half(lw, r, "get_current_pid_tgid", high=e.name == "pid")
    buf = lw.stack_mem(8)
    b.st(8, R10, buf.off, 0)
    b.mov(R1, ns.st_dev)
    b.mov(R2, ns.st_ino)
    lw.addr(R3, buf)
    b.mov(R4, 8)
    b.call("get_ns_current_pid_tgid")
    # struct bpf_pidns_info { u32 pid; u32 tgid; }: tgid is bpftrace's pid
    b.ldx(4, r, R10, buf.off + (4 if e.name == "pid" else 0))
    return Int(r)


def check_cgroupid(an, e: ast.Call) -> T.Type:
    an.nargs(e, 1)
    if not isinstance(e.args[0], ast.String):
        an.err("cgroupid() expects a string literal", e.args[0].span)
    an.expr(e.args[0])
    return T.UINT64


def lower_cgroupid(lw, e: ast.Call) -> Int:
    """The cgroup v2 id of a directory: its inode number (kernfs ids
    are the inode numbers on 64-bit kernels)."""
    path = e.args[0].value
    try:
        cgid = os.stat(path).st_ino
    except OSError as err:
        raise SemanticError(f"cgroupid: Failed to get cgroup id for path '{path}': "
                            f"{err.strerror}", e.span) from None
    r = lw.b.vreg()
    lw.b.mov(r, cgid)
    return Int(r)


def named_number(what: str):
    """The check of a function whose integer argument user space prints
    as a name (strerror: the errno's text, signal_name: SIGxxx)."""
    def check(an, e: ast.Call) -> T.Type:
        an.nargs(e, 1)
        an.int_arg(e, 0)
        return T.SymbolicInt(what=what)
    return check


def check_cgroup_path(an, e: ast.Call) -> T.Type:
    """cgroup_path(id[, filter]): the id's paths, found when printed."""
    an.nargs(e, 1, 2)
    an.int_arg(e, 0)
    pattern = "*"
    if len(e.args) == 2:
        if not isinstance(e.args[1], ast.String):
            an.err("cgroup_path() expects a string literal as its second argument "
                   "(the hierarchies to look in, a wildcard)", e.args[1].span)
        an.expr(e.args[1])
        pattern = e.args[1].value
    return T.CgroupPathType(filter=pattern)


def lower_pid_builtin(lw, e: ast.Builtin) -> Int:
    """pid and tid are pid() and tid()."""
    return lower_pid(lw, ast.Call(e.span, e.name))


def helper_half(lw, r, helper: str, high: bool) -> Int:
    """The high or the low 32 bits of a helper's u64 result, in ``r``.
    The helper's result is the same for the whole run, so a second half
    taken where the first call's result still reaches (no label placed
    since: every path here went through it) copies it instead of calling
    again: ``printf("%d %d", pid, tid)`` makes one call."""
    b = lw.b
    cache = lw.__dict__.setdefault("_helper_results", {})
    held = cache.get((id(b), helper))
    if held is not None and len(b.insns) >= held[1] and b.insns[held[1] - 1] is held[2] \
            and not any(isinstance(x, Label) for x in b.insns[held[1]:]):
        b.mov(r, held[0])
    else:
        raw = b.vreg()
        b.call(helper)
        b.mov(raw, R0)
        cache[(id(b), helper)] = (raw, len(b.insns), b.insns[-1])
        b.mov(r, raw)
    if high:
        b.alu("rsh", r, 32)
    else:
        b.mov(r, r, w=32)
    return Int(r)


def lower_uid_gid(lw, e: ast.Builtin) -> Int:
    """uid and username (printed as its name) are the low half of
    bpf_get_current_uid_gid, gid the high half."""
    return helper_half(lw, lw.b.vreg(), "get_current_uid_gid", high=e.name == "gid")


def store_comm(lw, e: ast.Builtin, dst, t: T.Type) -> None:
    b = lw.b
    lw.zero(dst)
    lw.addr(R1, dst)
    b.mov(R2, min(16, t.length))
    b.call("get_current_comm")


def check_ppid(an, e: ast.Builtin) -> T.Type:
    e.kernel = an.kernel_offsets(e, "ppid", ("struct task_struct", "real_parent"),
                                 ("struct task_struct", "tgid"))
    return T.UINT32


def lower_ppid(lw, e: ast.Builtin) -> Int:
    """current->real_parent->tgid, with the offsets the running kernel's
    BTF gives."""
    parent_off, tgid_off = e.kernel  # the check: from the kernel's BTF
    b = lw.b
    r = b.vreg()
    tmp = lw.stack_mem(8)
    b.call("get_current_task")
    task = b.vreg()
    b.mov(task, R0)
    for ptr, off, size in ((task, parent_off, 8), (None, tgid_off, 4)):
        src = task if ptr is not None else r
        b.st(8, R10, tmp.off, 0)
        lw.addr(R1, tmp)
        b.mov(R2, size)
        b.mov(R3, src)
        b.alu("add", R3, off)
        b.call("probe_read_kernel")
        b.ldx(size, r, R10, tmp.off)
    return Int(r)


def check_curtask(an, e: ast.Builtin) -> T.Type:
    t = an.types.named("struct task_struct *")
    return t if t is not None and t.ref else T.UINT64


def check_cpid(an, e: ast.Builtin) -> T.Type:
    if an.cpid is None:
        an.err("cpid cannot be used without child command", e.span)
    return T.UINT32


def lower_cpid(lw, e: ast.Builtin) -> Int:
    r = lw.b.vreg()
    lw.b.mov(r, lw.sc.an.cpid)
    return Int(r)


register(
    BuiltinVar("pid", of_type(T.UINT32), lower=lower_pid_builtin),
    BuiltinVar("tid", of_type(T.UINT32), lower=lower_pid_builtin),
    BuiltinVar("uid", of_type(T.UINT32), lower=lower_uid_gid),
    BuiltinVar("gid", of_type(T.UINT32), lower=lower_uid_gid),
    BuiltinVar("username", of_type(T.UsernameType()), lower=lower_uid_gid),
    BuiltinVar("comm", of_type(T.StringType(16)), store=store_comm),
    BuiltinVar("ppid", check_ppid, lower=lower_ppid),
    BuiltinVar("curtask", check_curtask, lower=helper_value("get_current_task")),
    BuiltinVar("cgroup", of_type(T.UINT64), lower=helper_value("get_current_cgroup_id")),
    BuiltinVar("cpid", check_cpid, lower=lower_cpid),
)

register(
    Function("cgroup_path", check_cgroup_path, lower=lower_argument),
    Function("pid", check_pid, lower=lower_pid),
    Function("tid", check_pid, lower=lower_pid),
    Function("cgroupid", check_cgroupid, lower=lower_cgroupid),
    Function("strerror", named_number("strerror"), lower=lower_argument),
    Function("signal_name", named_number("signal_name"), lower=lower_argument),
    Function("syscall_name", named_number("syscall_name"), lower=lower_argument),
)
