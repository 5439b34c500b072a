"""Missed events at exit: Session.report_missed turns the kernel's
recursion-miss counters (per program) and the kprobes' own missed counts
(per probe, read while attached) into one warning or JSON record each;
the readers of those counts on crafted structures (bpf_link_info,
kprobe_profile). Real kprobe misses are made in tests/vm/guest/."""

import io
import struct
from types import SimpleNamespace

import pytest

from bpfscope.attach import kprobe, providers
from bpfscope.bpf import link
from bpfscope.bpf.consts import LinkType
from bpfscope.output.json import JsonOutput
from bpfscope.output.text import TextOutput
from bpfscope.runtime import session as S


def session(monkeypatch, sink, recursion: dict, hook: dict):
    """A session of two kprobe programs (fds 10, 11), attached by links
    100 and 101, with the given miss counts."""
    monkeypatch.setattr(S, "prog_info", lambda fd: SimpleNamespace(recursion_misses=recursion[fd]))
    monkeypatch.setattr(providers, "missed", lambda probe, fds: hook[fds[0]])
    probes = [SimpleNamespace(name="kprobe:a", provider="kprobe"),
              SimpleNamespace(name="kretprobe:b", provider="kretprobe")]
    sess = S.Session.__new__(S.Session)
    sess.script = SimpleNamespace(programs=[SimpleNamespace(name=p.name) for p in probes])
    sess.prog_fds, sess.sink, sess.groups = [10, 11], sink, {}
    sess._attached = [(probes[0], [100]), (probes[1], [101])]
    sess._hook_missed = sess.hook_misses()
    return sess


def test_text_warnings_per_program_and_probe(monkeypatch):
    err = io.StringIO()
    sess = session(monkeypatch, TextOutput(io.StringIO(), err), {10: 0, 11: 3}, {100: 7, 101: 0})
    sess.report_missed()
    assert err.getvalue() == (
        "WARNING: kretprobe:b: 3 events were missed: the program was already running "
        "on their CPU\n"
        "WARNING: kprobe:a: 7 events were missed: the kernel's kprobe missed them "
        "(another kprobe was running on the CPU, or a kretprobe had no free instance)\n")


def test_json_records(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    sess = session(monkeypatch, JsonOutput(out, err), {10: 2, 11: 0}, {100: 0, 101: 5})
    sess.report_missed()
    assert out.getvalue() == (
        '{"type": "missed_events", "count": 2, "data": {"probe": "kprobe:a", '
        '"events": 2, "reason": "recursion"}}\n'
        '{"type": "missed_events", "count": 5, "data": {"probe": "kretprobe:b", '
        '"events": 5, "reason": "kprobe"}}\n')
    assert err.getvalue() == ""


def test_nothing_missed_says_nothing(monkeypatch):
    err = io.StringIO()
    sess = session(monkeypatch, TextOutput(io.StringIO(), err), {10: 0, 11: 0},
                   {100: 0, 101: None})
    sess.report_missed()
    assert err.getvalue() == ""


def test_hook_counts_follow_a_reattached_probe(monkeypatch):
    sess = session(monkeypatch, TextOutput(io.StringIO(), io.StringIO()), {10: 0, 11: 0},
                   {100: 1, 101: 0, 102: 9})
    sess.attach_fds = [100, 101]
    monkeypatch.setattr(S, "close_fd", lambda fd: None)
    sess._replace_fds([101], [102])
    assert sess.hook_misses() == [("kprobe:a", 1), ("kretprobe:b", 9)]


# ------------------------------------------------------------ bpf_link_info

def link_info(ltype: int, fields: dict[int, tuple[str, int]]) -> bytes:
    raw = bytearray(76)
    struct.pack_into("=III", raw, 0, ltype, 1, 2)
    for off, (fmt, v) in fields.items():
        struct.pack_into(fmt, raw, off, v)
    return bytes(raw)


def test_missed_of_kprobe_links():
    multi = link_info(LinkType.KPROBE_MULTI, {24: ("=I", 3), 32: ("=Q", 41)})
    assert link.kprobe_missed_of(multi) == 41
    for kind in (link.PERF_EVENT_KPROBE, link.PERF_EVENT_KRETPROBE):
        perf = link_info(LinkType.PERF_EVENT, {16: ("=I", kind), 48: ("=Q", 6)})
        assert link.kprobe_missed_of(perf) == 6
    uprobe = link_info(LinkType.PERF_EVENT, {16: ("=I", 1), 48: ("=Q", 6)})
    assert link.kprobe_missed_of(uprobe) is None
    assert link.kprobe_missed_of(link_info(LinkType.RAW_TRACEPOINT, {})) is None


def test_offsets_match_the_running_kernel():
    from bpfscope import btf
    try:
        kb = btf.load_vmlinux()
        if kb.find("bpf_link_info", "struct") is None:
            raise btf.BtfError("no struct bpf_link_info")
        multi = kb.offsetof("bpf_link_info", "kprobe_multi.missed")
        perf = kb.offsetof("bpf_link_info", "perf_event.kprobe.missed")
    except (btf.BtfError, KeyError, LookupError) as e:
        pytest.skip(f"this kernel's BTF has no kprobe missed counts: {e}")
    assert (multi, perf) == (link.KPROBE_MULTI_MISSED, link.PERF_EVENT_KPROBE_MISSED)
    assert kb.offsetof("bpf_link_info", "perf_event.type") == link.PERF_EVENT_TYPE


def test_a_perf_event_fd_is_no_link():
    assert link.kprobe_missed(-1) is None


# ------------------------------------------------------------ tracefs kprobes

PROFILE = """\
  p_vfs_read_1                                                 12               0
  r_do_sys_openat2_2                                          340              17
"""


def test_kprobe_profile():
    assert kprobe.profile_missed("r_do_sys_openat2_2", PROFILE) == 17
    assert kprobe.profile_missed("p_vfs_read_1", PROFILE) == 0
    assert kprobe.profile_missed("p_nope_3", PROFILE) is None


def test_kprobe_missed_from_links_else_kprobe_profile(monkeypatch):
    ev = kprobe.TracefsKprobe(57)
    ev.event = "bpfscope_1/r_do_sys_openat2_2"
    counts = {56: 4, 57: None}
    monkeypatch.setattr(link, "kprobe_missed", lambda fd: counts[int(fd)])
    monkeypatch.setattr(kprobe, "profile_missed", lambda name: {"r_do_sys_openat2_2": 17}[name])
    k = kprobe.Kprobe()
    assert k.missed(None, [56]) == 4
    assert k.missed(None, [56, ev]) == 17     # the event's link says nothing
    counts[56] = None
    assert k.missed(None, [56]) is None
