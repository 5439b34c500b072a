"""kprobe_session (Linux 6.10, with kprobe_multi): a kprobe and a kretprobe
of one function run as one program on one link, which asks
bpf_session_is_return which half it is in, as bpftrace 0.26 does. Where
the kernel has no session links (5.10, 6.1: no kprobe_multi either) the
pair attaches as two probes; --no-feature kprobe_session does the same
where it has them. Either way the counts are exact."""

from __future__ import annotations

import pytest

from bpfscope.attach import kprobe

from guestlib import N, NOPE, release, trace

pytestmark = pytest.mark.vmlane

PAIR = ('kprobe:do_sys_openat2 /comm == "bse2e"/ { @start[tid] = nsecs; @e = count(); } '
        'kretprobe:do_sys_openat2 /comm == "bse2e" && @start[tid]/ '
        '{ @r[(int32)retval] = count(); @took = count(); delete(@start, tid); }')


def _run(bse2e, monkeypatch) -> tuple[str, list[bool]]:
    links = []
    real = kprobe.kprobe_multi_link

    def spy(prog_fd, syms, retprobe, session=False):
        links.append(session)
        return real(prog_fd, syms, retprobe, session)
    kprobe.session_is_return_id()     # its own trial link is not counted
    monkeypatch.setattr(kprobe, "kprobe_multi_link", spy)
    code, out, err = trace(PAIR, [bse2e, "open", NOPE, str(N)])
    assert code == 0, err
    lines = set(out.splitlines())
    assert {f"@e: {N}", f"@r[-2]: {N}", f"@took: {N}"} <= lines, out
    return out, links


def test_a_kprobe_and_kretprobe_pair_shares_one_session_link(bse2e, monkeypatch):
    has = kprobe.session_is_return_id() is not None
    assert has == (release() >= (6, 10) and kprobe.kprobe_multi_ok())
    out, links = _run(bse2e, monkeypatch)
    # one session link for both halves where the kernel has them; else
    # each half on a kprobe of its own (no kprobe_multi link at all)
    assert links == ([True] if has else []), links


def test_no_feature_kprobe_session_attaches_the_halves_apart(bse2e, monkeypatch):
    monkeypatch.setenv(kprobe.NO_SESSION_ENV, "1")
    out, links = _run(bse2e, monkeypatch)
    assert links == [], links
