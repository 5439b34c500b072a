"""``--info`` on this machine: its probe types section says what the
attach layer itself decides (kprobes, fentry, tp_btf, uprobe_multi)."""

from __future__ import annotations

import pytest

from bpfscope.attach import fentry, kprobe, rawtracepoint
from bpfscope.bpf.features import has_uprobe_multi

pytestmark = pytest.mark.usefixtures("kernel")


def test_probe_types(e2e):
    r = e2e.run_cli("--info")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Probe types\n", 1)[1].splitlines()
    kwhy, fwhy = kprobe.kprobe_status(), fentry.fentry_status()
    assert section[0] == "  kprobe: " + ("yes" if kwhy is None else f"no ({kwhy})")
    assert section[3] == "  fentry: " + ("yes" if fwhy is None else f"no ({fwhy})")
    assert section[4] == "  rawtracepoint: " + (
        "tp_btf (typed args)" if rawtracepoint.tp_btf_status() is None
        else "raw_tracepoint (arg0..argN)")
    assert [line.split(":")[0].strip() for line in section] == [
        "kprobe", "kprobe_multi", "tracepoint", "fentry", "rawtracepoint", "uprobe_multi"]
    assert section[5] == "  uprobe_multi: " + ("yes" if has_uprobe_multi() else "no")
