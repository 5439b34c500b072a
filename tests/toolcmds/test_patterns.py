"""bcc's probe patterns: what each form means and which probes it expands
to (the listings faked: no kernel, no files read)."""

from __future__ import annotations

import pytest

from bpfscope.toolcmds import patterns
from bpfscope.toolcmds.common import ToolError

LISTINGS = {
    "kprobe:*": ["kprobe:vfs_read", "kprobe:vfs_write", "kprobe:do_sys_open",
                 "kprobe:mod:vfs_mod", "kprobe:foo.isra.0"],
    "tracepoint:*": ["tracepoint:sched:sched_fork", "tracepoint:sched:sched_switch",
                     "tracepoint:syscalls:sys_enter_open"],
    "uprobe:/lib/libc.so.6:*": ["uprobe:/lib/libc.so.6:malloc", "uprobe:/lib/libc.so.6:free",
                                "uprobe:/lib/libc.so.6:malloc_trim"],
    "usdt:/lib/libc.so.6:*:*": ["usdt:/lib/libc.so.6:libc:memory_malloc_retry",
                                "usdt:/lib/libc.so.6:libc:setjmp"],
}


@pytest.fixture(autouse=True)
def fake(monkeypatch):
    monkeypatch.setattr(patterns, "_listed", lambda pattern, pid: LISTINGS.get(pattern, []))
    libs = {"c": [], "libc": ["/lib/libc.so.6"], "/lib/libc.so.6": ["/lib/libc.so.6"]}
    monkeypatch.setattr(patterns, "resolve_target", lambda name, pid: libs.get(name, []))


@pytest.mark.parametrize("text, kind, library, name", [
    ("vfs_read", "kernel", "", "vfs_read"),
    ("k:vfs_*", "kernel", "", "vfs_*"),
    ("kprobe:vfs_*", "kernel", "", "vfs_*"),
    ("p:vfs_*", "kernel", "", "vfs_*"),
    ("c:malloc", "user", "/lib/libc.so.6", "malloc"),
    ("p:c:malloc", "user", "/lib/libc.so.6", "malloc"),
    ("uprobe:/lib/libc.so.6:mal*", "user", "/lib/libc.so.6", "mal*"),
    ("t:sched:sched_*", "tracepoint", "", "sched:sched_*"),
    ("tracepoint:sched:sched_fork", "tracepoint", "", "sched:sched_fork"),
    ("u:c:setjmp", "usdt", "/lib/libc.so.6", "setjmp"),
    ("usdt:libc:libc:setjmp", "usdt", "/lib/libc.so.6", "setjmp"),
])
def test_forms(text, kind, library, name):
    pat = patterns.parse(text)
    assert (pat.kind, pat.library, pat.name) == (kind, library, name)


@pytest.mark.parametrize("text, message", [
    ("x:y:z", "type must be 'p', 't', 'u'"),
    ("a:b:c:d:e", "too many ':'-separated components"),
    ("nolib:malloc", "can't resolve library 'nolib'"),
    ("t:sched", "needs two more"),
    ("k:", "names no function"),
])
def test_bad_patterns(text, message):
    with pytest.raises(ToolError, match=message):
        patterns.parse(text)


def test_a_tool_may_refuse_a_kind():
    with pytest.raises(ToolError, match="does not trace tracepoints"):
        patterns.parse("t:sched:sched_fork", kinds=("kernel", "user"))


def test_globs_match_whole_names_and_only_star_is_special():
    got = patterns.expand(patterns.parse("vfs_*"))
    assert [m.display for m in got] == ["vfs_read", "vfs_write"]  # not the module's
    assert patterns.expand(patterns.parse("foo.isra.0"))[0].spec == 'kprobe:"foo.isra.0"'
    with pytest.raises(ToolError, match="no functions matched"):
        patterns.expand(patterns.parse("foo.isra"))


def test_regex_matches_at_the_start_as_re_match():
    got = patterns.expand(patterns.parse("vfs_(read|wr)"), regex=True)
    assert [m.display for m in got] == ["vfs_read", "vfs_write"]
    with pytest.raises(ToolError, match="no functions matched"):
        patterns.expand(patterns.parse("read"), regex=True)
    with pytest.raises(ToolError, match="bad regular expression"):
        patterns.expand(patterns.parse("vfs_("), regex=True)


def test_user_tracepoint_and_usdt_expansion():
    assert [(m.spec, m.display) for m in patterns.expand(patterns.parse("c:malloc*"))] == [
        ("uprobe:/lib/libc.so.6:malloc", "malloc"),
        ("uprobe:/lib/libc.so.6:malloc_trim", "malloc_trim")]
    assert [m.display for m in patterns.expand(patterns.parse("t:sched:*"))] == [
        "sched:sched_fork", "sched:sched_switch"]
    assert [(m.spec, m.display) for m in patterns.expand(patterns.parse("u:c:set*"))] == [
        ("usdt:/lib/libc.so.6:libc:setjmp", "setjmp")]
    assert [m.display for m in patterns.expand(patterns.parse("usdt:c:libc:*"))] == [
        "libc:memory_malloc_retry", "libc:setjmp"]


def test_u_falls_back_to_functions_when_no_usdt_probe_matches():
    got = patterns.expand(patterns.parse("u:c:free"))
    assert [m.spec for m in got] == ["uprobe:/lib/libc.so.6:free"]
    with pytest.raises(ToolError):   # usdt: means USDT only
        patterns.expand(patterns.parse("usdt:c:free"))
