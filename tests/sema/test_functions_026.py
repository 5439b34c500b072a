"""Types of the functions and constants bpftrace 0.26 has that issue 12
point 3 added: syscall_name, errno names, __NR_* numbers (pcomm is
the standard library's macro: tests/lang/test_macros.py)."""

import pytest

from bpfscope.sema import types as T
from bpfscope.sema.valuetext import symbolic_text

from .test_functions import analyze, err, ty


@pytest.mark.parametrize("expr, want", [
    ('syscall_name(args.n)', T.SymbolicInt(what="syscall_name")),
    ('syscall_name(__NR_read)', T.SymbolicInt(what="syscall_name")),
    ('EPERM', T.INT64),
    ('__NR_openat', T.INT64),
])
def test_types(expr, want):
    assert ty(expr) == want


@pytest.mark.parametrize("name, value", [
    ("EPERM", 1), ("ENOENT", 2), ("EAGAIN", 11), ("EWOULDBLOCK", 11),
    ("__NR_read", 0), ("__NR_write", 1), ("__NR_openat", 257), ("__NR_clone3", 435),
])
def test_header_constants(name, value):
    an = analyze(f"BEGIN {{ $x = {name}; }}")
    assert an.program.probes[0].body[-1].value.value == value


def test_syscall_name_text():
    assert symbolic_text("syscall_name", 0) == "read"
    assert symbolic_text("syscall_name", 59) == "execve"
    assert symbolic_text("syscall_name", 99999) == "99999"   # past the table: the number


def test_syscall_name_errors():
    assert err('BEGIN { syscall_name(); }') == (
        "syscall_name() requires 1 argument (0 provided)", (1, 9, 23))
    assert err('BEGIN { syscall_name("read"); }')[0].startswith("syscall_name()")


def test_unknown_errno_like_names_stay_errors():
    assert err('BEGIN { $x = ENOTANERRNO; }') == (
        "Unknown identifier: 'ENOTANERRNO'", (1, 14, 25))



@pytest.mark.parametrize("probe, mode", [
    ("BEGIN", "user"),                   # run from bpfscope's own system call
    ("uprobe:/bin/x:f", "regs"),         # the saved cs says
    ("tracepoint:a:b", "kernel"),
])
def test_usermode_by_probe(probe, mode):
    an = analyze(f"{probe} {{ $m = usermode; }}")
    e = an.program.probes[0].body[-1].value
    assert e.type == T.UINT8 and e.mode == mode


def test_write_user_needs_unsafe():
    assert err('uprobe:/bin/x:f { write_user(arg0, "ab", 2); }') == (
        "write_user() is unsafe. To use you need the --unsafe flag", (1, 19, 44))


def unsafe(src):
    return analyze(src, {"unsafe": True})


def test_write_user_type_and_errors():
    an = unsafe('uprobe:/bin/x:f { $s = "abc"; $ok = write_user(arg0, $s, 4); }')
    assert an.program.probes[0].body[-1].value.type == T.BOOL
    with pytest.raises(Exception, match=r"length 5 is not between 1 and the size of the value \(4 bytes\)"):
        unsafe('uprobe:/bin/x:f { write_user(arg0, "abc", 5); }')
    with pytest.raises(Exception, match="not memory a pointer points to"):
        unsafe('uprobe:/bin/x:f { write_user(arg0, (int8 *)arg1, 1); }')
    with pytest.raises(Exception, match="expects an address for argument 1"):
        unsafe('uprobe:/bin/x:f { write_user("x", 1, 1); }')
    with pytest.raises(Exception, match="write_user: "):
        unsafe('uprobe:/bin/x:f { $n = 2; write_user(arg0, "abc", $n); }')


@pytest.mark.parametrize("src, msg", [
    ('BEGIN { debugf("%d %d\\n", 1); }',
     "debugf: Not enough arguments for format string (1 supplied, 2 expected)"),
    ('BEGIN { debugf("%d %d %d %d\\n", 1, 2, 3, 4); }',
     "debugf: Cannot use more than 3 conversion specifiers"),
    ('BEGIN { debugf("%r\\n", 1); }', "debugf: Unknown format string token: %r"),
    ('BEGIN { debugf("%hd\\n", 1); }', "debugf: Unknown format string token: %hd"),
    ('BEGIN { debugf("%s\\n", 1); }',
     "debugf: %s specifier expects a value of type string (int64 supplied)"),
    ('BEGIN { debugf("%d\\n", "a"); }',
     "debugf: %d specifier expects a value of type integer (string[2] supplied)"),
    ('BEGIN { $f = "x"; debugf($f); }',
     "debugf() expects a string literal format as first argument"),
])
def test_debugf_errors(src, msg):
    assert err(src)[0] == msg


def test_debugf_accepts_what_bpf_trace_printk_formats():
    an = analyze('BEGIN { debugf("%d %lu %s 100%%\\n", 1, 2, comm); debugf("plain\\n"); }')
    assert an.program.probes[0].body[0].expr.type == T.VOID


def test_cgroup_path_types_and_errors():
    assert ty('cgroup_path(args.n)') == T.CgroupPathType(filter="*")
    assert ty('cgroup_path(args.n, "uni*")') == T.CgroupPathType(filter="uni*")
    assert err('BEGIN { $f = "x"; cgroup_path(1, $f); }')[0].startswith(
        "cgroup_path() expects a string literal as its second argument")
    assert err('BEGIN { cgroup_path("x"); }')[0].startswith(
        "cgroup_path() expects an integer for argument 1")


def test_cgroup_path_text_over_fake_hierarchies(tmp_path, monkeypatch):
    import os
    from bpfscope.sema import valuetext
    v2, mem = tmp_path / "unified", tmp_path / "memory"
    (v2 / "a" / "b").mkdir(parents=True)
    (mem / "m").mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"cgroup {mem} cgroup rw,memory 0 0\n"
                      f"cgroup2 {v2} cgroup2 rw 0 0\n"
                      f"tmpfs {tmp_path} tmpfs rw 0 0\n")
    monkeypatch.setattr(valuetext, "cgroup_roots",
                        lambda m=str(mounts), f=valuetext.cgroup_roots: f(m))
    b = os.stat(v2 / "a" / "b").st_ino
    assert valuetext.cgroup_path_text(b) == "unified:/a/b"
    assert T.CgroupPathType(filter="mem*").show(b) == ""           # not in that one
    m = os.stat(mem / "m").st_ino
    assert valuetext.cgroup_path_text(m, "memory") == "memory:/m"
    assert valuetext.cgroup_path_text(os.stat(v2).st_ino, "unified") == "unified:/"


def test_strftime_microseconds_keep_their_differences():
    from bpfscope.sema.valuetext import format_timestamp
    for ns in (1_000_123_000, 1_000_000_123_000, 999_000):   # whole microseconds
        a = int("1" + format_timestamp("%f", ns))
        b = int("1" + format_timestamp("%f", 0))
        assert (a - b) % 1_000_000 == (ns // 1000) % 1_000_000


def test_skboutput_says_why_it_cannot_run():
    msg, span = err('tracepoint:a:b { skboutput("/tmp/p.pcap", args.filename, 10, 0); }')
    assert msg.startswith("skboutput() is not supported yet: only fentry/fexit programs")
    assert "perf event array" in msg and span == (1, 18, 64)
