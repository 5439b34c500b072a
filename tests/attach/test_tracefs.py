"""Tests for bpfscope.attach.tracefs: format parsing (pure) and real tracefs reads."""

import os

import pytest

from bpfscope.attach import tracefs
from bpfscope.attach.tracefs import Field, glob_match, parse_format_text
from bpfscope.errors import KernelError, SemanticError

OPENAT_FORMAT = """\
name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: "dfd: 0x%08lx, filename: 0x%08lx", ((unsigned long)(REC->dfd)), ((unsigned long)(REC->filename))
"""

MIXED_FORMAT = """\
name: mixed
ID: 42
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:28;\tsize:4;\tsigned:1;
\tfield:unsigned long args[6];\toffset:32;\tsize:48;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:80;\tsize:4;\tsigned:0;
\tfield:__data_loc u64[] ips;\toffset:84;\tsize:4;\tsigned:0;
\tfield:s8 delta;\toffset:88;\tsize:1;\tsigned:1;
\tfield:const char *const * argv;\toffset:96;\tsize:8;\tsigned:0;
\tfield:__rel_loc char[] msg;\toffset:104;\tsize:4;\tsigned:0;

print fmt: "name=%s", __get_str(name)
"""


# ---------------------------------------------------------------- pure tests


def test_parse_openat_fields():
    fmt = parse_format_text(OPENAT_FORMAT, "syscalls", "sys_enter_openat", 782)
    assert (fmt.category, fmt.name, fmt.id) == ("syscalls", "sys_enter_openat", 782)
    assert [f.name for f in fmt.fields] == [
        "common_type", "common_flags", "common_preempt_count", "common_pid",
        "__syscall_nr", "dfd", "filename", "flags", "mode"]
    assert [f.name for f in fmt.args] == [
        "__syscall_nr", "dfd", "filename", "flags", "mode"]
    assert fmt.fields[0] == Field("common_type", "unsigned short", 0, 2, False,
                                  None, False, True)
    assert fmt.fields[3] == Field("common_pid", "int", 4, 4, True, None, False, True)
    fn = fmt.field("filename")
    assert fn == Field("filename", "const char *", 24, 8, False, None, False, False)
    assert fn.kind == "pointer"
    nr = fmt.field("__syscall_nr")
    assert (nr.offset, nr.size, nr.signed, nr.kind) == (8, 4, True, "int")
    # syscall args are stored widened to 8 bytes, unsigned, whatever the C type.
    dfd = fmt.field("dfd")
    assert (dfd.c_type, dfd.offset, dfd.size, dfd.signed, dfd.kind) == (
        "int", 16, 8, False, "int")
    assert fmt.field("mode").c_type == "umode_t"
    assert fmt.field("nope") is None
    assert fmt.record_size == 48


def test_parse_id_defaults_to_file():
    fmt = parse_format_text(OPENAT_FORMAT, "syscalls", "sys_enter_openat")
    assert fmt.id == 782


def test_parse_kinds_and_arrays():
    fmt = parse_format_text(MIXED_FORMAT, "test", "mixed", 42)
    by = {f.name: f for f in fmt.args}
    assert [f.name for f in fmt.args] == [
        "name", "comm", "pid", "args", "saddr", "ips", "delta", "argv", "msg"]

    name = by["name"]
    assert (name.c_type, name.offset, name.size, name.data_loc,
            name.array_len, name.kind) == ("char", 8, 4, True, None,
                                           "data_loc_string")
    assert name.rel_loc is False

    comm = by["comm"]
    assert (comm.c_type, comm.array_len, comm.size, comm.kind,
            comm.elem_size) == ("char", 16, 16, "char_array", 1)

    pid = by["pid"]
    assert (pid.c_type, pid.signed, pid.kind) == ("pid_t", True, "int")

    args = by["args"]
    assert (args.c_type, args.array_len, args.size, args.kind,
            args.elem_size) == ("unsigned long", 6, 48, "array", 8)

    # u8 arrays are bytes (addresses), not strings.
    saddr = by["saddr"]
    assert (saddr.c_type, saddr.array_len, saddr.kind) == ("__u8", 4, "array")

    ips = by["ips"]
    assert (ips.c_type, ips.data_loc, ips.kind, ips.elem_size) == (
        "u64", True, "data_loc_array", 8)

    delta = by["delta"]
    assert (delta.size, delta.signed, delta.kind) == (1, True, "int")

    argv = by["argv"]
    assert (argv.c_type, argv.kind) == ("const char *const *", "pointer")

    msg = by["msg"]
    assert (msg.data_loc, msg.rel_loc, msg.kind) == (True, True, "data_loc_string")


def test_declarations_round_trip():
    fmt = parse_format_text(MIXED_FORMAT, "test", "mixed", 42)
    assert [f.declaration for f in fmt.args] == [
        "__data_loc char[] name", "char comm[16]", "pid_t pid",
        "unsigned long args[6]", "__u8 saddr[4]", "__data_loc u64[] ips",
        "s8 delta", "const char *const * argv", "__rel_loc char[] msg"]
    # Without the original text the declaration is rebuilt the same way.
    for f in fmt.args:
        rebuilt = Field(f.name, f.c_type, f.offset, f.size, f.signed,
                        f.array_len, f.data_loc, f.common, f.rel_loc)
        assert rebuilt.declaration == f.declaration


def test_parse_macro_array_length_and_missing_signed():
    text = ("format:\n"
            "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\n"
            "\n"
            "\tfield:char comm[TASK_COMM_LEN];\toffset:8;\tsize:16;\n"
            "\tfield:int prio;\toffset:24;\tsize:4;\n")
    fmt = parse_format_text(text, "old", "ev", 7)
    assert fmt.id == 7
    comm, prio = fmt.args
    assert (comm.name, comm.array_len, comm.kind) == ("comm", 16, "char_array")
    assert prio.signed is True
    assert fmt.fields[0].signed is False and fmt.fields[0].common is True


def test_glob_match_rules():
    assert glob_match("sched:sched_switch", "sched:sched_switch")
    assert not glob_match("sched:sched_switch", "sched:sched_switch2")
    assert glob_match("*", "anything:at_all")
    assert glob_match("sch*:*switch", "sched:sched_switch")
    assert glob_match("*sched_switch", "sched:sched_switch")
    # A full glob: bpftrace's leftmost search would miss this one.
    assert glob_match("syscalls:*at", "syscalls:sys_enter_newfstatat")
    # Only * is special, as in bpftrace.
    assert not glob_match("sched:sched_?witch", "sched:sched_switch")
    assert glob_match("a?b", "a?b")
    assert not glob_match("sched:{sched_switch,x}", "sched:sched_switch")
    assert glob_match("a.c", "a.c") and not glob_match("a.c", "abc")


def test_listing_glob():
    lg = tracefs._listing_glob
    assert lg(None) == lg("") == "*:*"
    assert lg("*") == "*:*"
    assert lg("sched*") == "*:sched*"
    assert lg("sched:sched_switch") == "sched:sched_switch"
    assert lg("sched:*") == "sched:*"
    # one part names an event in any category (-l sched_switch)
    assert lg("sched_switch") == "*:sched_switch"
    with pytest.raises(SemanticError) as ei:
        lg("a:b:c")
    assert ei.value.message == "tracepoint probe type requires 2 arguments, found 3"


def test_root_fallbacks(monkeypatch):
    """The search order, with the filesystem and mount(2) faked."""
    present = set()
    monkeypatch.setattr(tracefs.os.path, "isdir", lambda p: p in present)
    mounts = []

    def fake_mount(path):
        mounts.append(path)
        return "mount /sys/kernel/tracing: Operation not permitted"

    monkeypatch.setattr(tracefs, "_try_mount", fake_mount)
    tracefs.clear_caches()
    try:
        with pytest.raises(KernelError) as ei:
            tracefs.tracefs_root()
        assert ei.value.message == (
            "tracefs is not mounted and could not be mounted: "
            "no tracefs directory at /sys/kernel/tracing")
        assert mounts == []

        present.add("/sys/kernel/tracing")
        with pytest.raises(KernelError) as ei:
            tracefs.tracefs_root()
        assert ei.value.message == (
            "tracefs is not mounted and could not be mounted: "
            "mount /sys/kernel/tracing: Operation not permitted")
        assert mounts == ["/sys/kernel/tracing"]

        present.add("/sys/kernel/debug/tracing/events")
        assert tracefs.tracefs_root() == "/sys/kernel/debug/tracing"

        # A successful mount makes events/ appear.
        tracefs.clear_caches()
        present.discard("/sys/kernel/debug/tracing/events")
        monkeypatch.setattr(tracefs, "_try_mount", lambda path: present.add(
            path + "/events"))
        assert tracefs.tracefs_root() == "/sys/kernel/tracing"
    finally:
        monkeypatch.undo()
        tracefs.clear_caches()


# ------------------------------------------------------------- kernel tests


def _need_tracefs():
    if os.geteuid() != 0:
        pytest.skip("reading tracefs needs root")
    try:
        root = tracefs.tracefs_root()
    except KernelError as e:
        pytest.skip(f"tracefs unavailable: {e.message}")
    if not os.access(os.path.join(root, "events"), os.R_OK):
        pytest.skip("tracefs events/ is not readable")
    return root


def _need_event(cat, name):
    root = _need_tracefs()
    if not os.path.isdir(os.path.join(root, "events", cat, name)):
        pytest.skip(f"kernel has no {cat}:{name} tracepoint")


def test_root_is_cached_and_has_events():
    root = _need_tracefs()
    assert root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
    assert os.path.isdir(os.path.join(root, "events"))
    assert tracefs.tracefs_root() is root


def test_real_openat_format():
    _need_event("syscalls", "sys_enter_openat")
    root = tracefs.tracefs_root()
    with open(os.path.join(root, "events/syscalls/sys_enter_openat/id")) as f:
        want_id = int(f.read())
    assert tracefs.tracepoint_id("syscalls", "sys_enter_openat") == want_id
    fmt = tracefs.read_format("syscalls", "sys_enter_openat")
    assert fmt.id == want_id
    assert [f.name for f in fmt.args] == [
        "__syscall_nr", "dfd", "filename", "flags", "mode"]
    fn = fmt.field("filename")
    assert (fn.c_type, fn.size, fn.kind) == ("const char *", 8, "pointer")
    assert fmt.field("common_pid").common
    # Cached: the same object comes back.
    assert tracefs.read_format("syscalls", "sys_enter_openat") is fmt


def test_real_sched_switch_format():
    _need_event("sched", "sched_switch")
    fmt = tracefs.read_format("sched", "sched_switch")
    by = {f.name: f for f in fmt.args}
    for n in ("prev_comm", "prev_pid", "prev_prio", "prev_state",
              "next_comm", "next_pid", "next_prio"):
        assert n in by
    assert (by["prev_comm"].kind, by["prev_comm"].array_len) == ("char_array", 16)
    assert (by["next_pid"].kind, by["next_pid"].size, by["next_pid"].signed) == (
        "int", 4, True)
    assert by["prev_comm"].offset == 8


def test_list_and_expand():
    _need_event("sched", "sched_switch")
    everything = tracefs.list_tracepoints()
    assert everything == sorted(set(everything))
    assert "sched:sched_switch" in everything
    assert tracefs.list_tracepoints("sched:sched_switch") == ["sched:sched_switch"]
    sched = tracefs.list_tracepoints("sched:*")
    assert "sched:sched_switch" in sched
    assert all(e.startswith("sched:") for e in sched)
    assert tracefs.list_tracepoints("*:sched_switch") == ["sched:sched_switch"]
    assert tracefs.list_tracepoints("sched:sched_switch_nope*") == []
    pairs = tracefs.expand("sch*d", "sched_sw*")
    assert ("sched", "sched_switch") in pairs
    assert pairs == sorted(pairs)
    assert tracefs.expand("sched", "sched_switch") == [("sched", "sched_switch")]
    assert tracefs.expand("nosuchcat*", "*") == []


def test_unknown_tracepoint_errors():
    _need_tracefs()
    with pytest.raises(SemanticError) as ei:
        tracefs.read_format("sched", "no_such_event")
    assert ei.value.message == "tracepoint not found: sched:no_such_event"
    with pytest.raises(SemanticError) as ei:
        tracefs.tracepoint_id("nosuchcat", "x")
    assert ei.value.message == "tracepoint not found: nosuchcat:x"
    # Path tricks are just unknown names.
    with pytest.raises(SemanticError):
        tracefs.read_format("..", "sched")
    with pytest.raises(SemanticError):
        tracefs.tracepoint_id("sched/sched_switch", "..")


def test_format_listing():
    _need_event("sched", "sched_switch")
    assert tracefs.format_listing("sched:sched_switch") == (
        "tracepoint:sched:sched_switch\n")
    assert tracefs.format_listing("sched:nonexistent") == ""
    fmt = tracefs.read_format("sched", "sched_switch")
    want = "tracepoint:sched:sched_switch\n" + "".join(
        f"    {f.declaration}\n" for f in fmt.args)
    assert tracefs.format_listing("sched:sched_switch", verbose=True) == want
    assert "    char prev_comm[16]\n" in want
    out = tracefs.format_listing("*sched_switch")
    assert "tracepoint:sched:sched_switch\n" in out.splitlines(keepends=True)


def test_format_listing_irq_data_loc():
    _need_event("irq", "irq_handler_entry")
    assert tracefs.format_listing("irq:irq_handler_entry", True) == (
        "tracepoint:irq:irq_handler_entry\n"
        "    int irq\n"
        "    __data_loc char[] name\n")


def test_listing_all_names_every_tracepoint():
    _need_tracefs()
    out = tracefs.format_listing("*")
    assert out.count("\n") == len(tracefs.list_tracepoints())
