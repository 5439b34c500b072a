"""What differs between the lane's kernels (5.10 to the newest), each
fallback tested on the kernel that needs it and the feature on those that
have it: perf-event programs attached with PERF_EVENT_IOC_SET_BPF before
BPF links for perf events (5.15), no module BTF before 5.11, BTF without DECL_TAG
(5.16), TYPE_TAG (5.17) and ENUM64 (6.0) read all the same, and feature
errors naming the release that brings the feature. Scripts run in-process
(guestlib.trace), as a new Python costs seconds under emulation.
kprobe_multi: test_kprobe.py; for over maps before 5.13: test_oneliners.py; no
bpf_get_func_ip (before 5.15): func is a constant of each program."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpfscope.bpf import features, link
from bpfscope.btf import kinds as K

from guestlib import N, NOPE, OPENAT, release, run_or_refused, trace

pytestmark = pytest.mark.vmlane


def test_perf_event_programs_attach_with_links_or_ioctl(bse2e, monkeypatch):
    """A tracepoint, a kprobe and a uprobe all count exactly; the attach
    returns a BPF link from 5.15 on and the perf event fd itself (attached
    with PERF_EVENT_IOC_SET_BPF) before. From 6.6 the uprobe takes a
    uprobe_multi link instead of a perf event."""
    has_links = release() >= (5, 15)
    assert features.has_link_perf_event() == has_links
    seen = []
    real = link.attach_perf_event

    def spy(prog_fd, perf_fd, *args, **kw):
        fd = real(prog_fd, perf_fd, *args, **kw)
        seen.append(fd == perf_fd)
        return fd
    monkeypatch.setattr(link, "attach_perf_event", spy)
    code, out, err = trace(OPENAT + ' { @t = count(); } '
                           'kprobe:do_sys_openat2 /comm == "bse2e"/ { @k = count(); } '
                           f'uprobe:{bse2e}:main {{ @u = count(); }}',
                           [bse2e, "open", NOPE, str(N)])
    assert code == 0, err
    assert {f"@t: {N}", f"@k: {N}", "@u: 1"} <= set(out.splitlines()), out
    perf_events = 2 if features.has_uprobe_multi() else 3
    assert features.has_uprobe_multi() == (release() >= (6, 6))
    assert seen == [not has_links] * perf_events


def test_module_btf(bse2e):
    """fentry on a function of the overlay module (the guest's / is an
    overlay): from 5.11 it attaches with the module's BTF; before, the
    error says the kernel has no module BTF and which release brings it."""
    script = 'fentry:overlay:ovl_getattr /comm == "cat"/ { @ = count(); }'
    has = Path("/sys/kernel/btf/overlay").exists()
    assert has == (release() >= (5, 11))
    if not has:
        from bpfscope.errors import BpfscopeError
        with pytest.raises(BpfscopeError) as e:
            trace(script, ["/bin/true"])
        assert "no module BTF at all (Linux 5.11 brings it" in e.value.format()
        return
    code, out, err = trace(script, ["/bin/cat", "/etc/hostname"])
    assert code == 0, err
    assert any(ln.startswith("@: ") and int(ln.split()[1]) > 0 for ln in out.splitlines()), out


def test_btf_kinds_of_this_kernel():
    """The reader takes every kernel's BTF, whichever of the later kinds it
    has (none of them before 5.16), without a warning about kinds."""
    from bpfscope.btf import load_vmlinux
    from bpfscope.errors import WarningLog, collecting
    log = WarningLog()
    with collecting(log):
        b = load_vmlinux()
        kinds = {b.kind(i) for i in range(1, len(b))}
    assert not [w for w in log.items if "does not know" in w.message]
    later = {K.DECL_TAG, K.TYPE_TAG, K.ENUM64}
    if release() < (5, 16):
        assert not kinds & later
    elif release() >= (7, 0):      # built with a pahole that writes them all
        assert later <= kinds
    assert b.find("task_struct", "struct") is not None
    assert b.find("do_sys_openat2", "func") is not None



def test_per_cpu_map_read_in_a_probe(bse2e):
    """count() read back inside a probe sums the CPUs' values with
    bpf_map_lookup_percpu_elem (5.19); before, the error names it."""
    out = run_or_refused(OPENAT + ' { @c = count(); if (@c > 0) { @seen = count(); } }',
                         release() >= (5, 19),
                         ["no bpf_map_lookup_percpu_elem helper", "Linux 5.19 brings it"],
                         [bse2e, "open", NOPE, str(N)])
    # each call counts first, then reads the count back (1, 2, ...)
    assert out is None or {f"@c: {N}", f"@seen: {N}"} <= set(out.splitlines()), out


def test_strstr_of_long_strings(bse2e):
    """strstr() in a 1024-byte string calls the kernel's bpf_strnstr (6.17);
    before, searches that big are refused naming it (shorter ones are
    unrolled)."""
    script = OPENAT + ' { @[strstr(str(args.filename), "oneliner")] = count(); }'
    if release() < (6, 17):
        from bpfscope.errors import BpfscopeError
        with pytest.raises(BpfscopeError) as e:
            trace(script, ["/bin/true"])
        assert "bpf_strnstr (Linux 6.17)" in e.value.format()
        return
    code, out, err = trace(script, [bse2e, "open", NOPE, str(N)])
    assert code == 0, err
    assert f"@[{NOPE.index('oneliner')}]: {N}" in out.splitlines(), out


def test_func_without_bpf_get_func_ip(bse2e):
    """``func`` in kprobe (wildcards, kprobe_multi links where the kernel
    has them), fentry and uprobe probes: every program serves one
    function, so ``func`` is a constant of it and no program calls
    bpf_get_func_ip, which 5.10 lacks (5.15 brings it)."""
    from bpfscope import api
    assert features.has_helper(173) == (release() >= (5, 15))
    script = ('kprobe:do_sys_openat* /comm == "bse2e"/ { @k[func] = count(); } '
              'fentry:do_sys_openat2 /comm == "bse2e"/ { @f[func] = count(); } '
              f'uprobe:{bse2e}:main {{ @u[func] = count(); }}')
    compiled = api.compile_script(script)
    assert not [p.name for p in compiled.programs
                if 173 in features.called_helpers(p.program.encode())]
    code, out, err = trace(script, [bse2e, "open", NOPE, str(N)])
    assert code == 0, err
    wanted = {f"@k[do_sys_openat2]: {N}", f"@f[do_sys_openat2]: {N}", "@u[main]: 1"}
    assert wanted <= set(out.splitlines()), out


def test_info_says_what_this_kernel_has():
    """--info's rows per feature and per probe type agree with what the
    lane's kernels have (the README's "What the kernel must offer")."""
    from bpfscope.info import info_text
    rows = {}
    for line in info_text().splitlines():
        # a row's name may hold ": " itself (for ($kv : @map)), its value too
        m = re.match(r"  (.+?): ((?:yes|no|tp_btf|raw_tracepoint)\b.*)$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    r = release()
    want = {
        "module btf": r >= (5, 11),
        "BPF link for perf events": r >= (5, 15),
        "kprobes": True, "uprobes": True, "btf": True,
        "bpf_d_path (path(), Linux 5.10)": True,
        "bpf_for_each_map_elem (for ($kv : @map), Linux 5.13)": r >= (5, 13),
        "bpf_map_lookup_percpu_elem (reading a per-CPU map (count(), sum() ...) in a probe, "
        "Linux 5.19)": r >= (5, 19),
        "bpf_ktime_get_tai_ns (nsecs(tai), Linux 6.1)": r >= (6, 1),
        "hash map keys over 512 bytes (str() keys, Linux 5.11)": r >= (5, 11),
        "bpf_map_sum_elem_count (len(@map), Linux 6.6)": r >= (6, 6),
        "bpf_strnstr (strstr() of long strings, Linux 6.17)": r >= (6, 17),
        "bpf_strnlen (strlen(), Linux 6.17)": r >= (6, 17),
        "kprobe": True, "tracepoint": True, "perf_event": True, "fentry": True,
        # Debian builds CONFIG_FPROBE from 6.12 on
        "kprobe_multi": r >= (6, 12), "kprobe_session": r >= (6, 12),
        "uprobe_multi": r >= (6, 6), "raw_tp_special": True, "iter": True,
        "uprobe, uretprobe, usdt": True, "software, profile, interval": True,
        "BEGIN, END, self, bench": True,
    }
    got = {name: rows.get(name, "?").startswith("yes") for name in want}
    assert got == want, {name: rows.get(name, "?") for name in want if got[name] != want[name]}
    assert rows["rawtracepoint"] == "tp_btf (typed args)"
    assert rows["hardware"] == "yes" or rows["hardware"].startswith("no (no PMU"), rows
