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
    section = dict(line.strip().split(": ", 1)
                   for line in r.stdout.split("Probe types\n", 1)[1].splitlines())
    kwhy, fwhy = kprobe.kprobe_status(), fentry.fentry_status()
    assert section["kprobe"] == ("yes" if kwhy is None else f"no ({kwhy})")
    assert section["fentry"] == ("yes" if fwhy is None else f"no ({fwhy})")
    assert section["rawtracepoint"] == (
        "tp_btf (typed args)" if rawtracepoint.tp_btf_status() is None
        else "raw_tracepoint (arg0..argN)")
    twhy = rawtracepoint.tp_btf_status()
    assert section["tp_btf"] == ("yes" if twhy is None else f"no ({twhy})")
    # bpftrace 0.26's rows in its order, then the attach layer's others
    assert list(section) == ["kprobe", "tracepoint", "perf_event", "fentry", "kprobe_multi",
                             "kprobe_session", "uprobe_multi", "raw_tp_special", "iter",
                             "rawtracepoint", "tp_btf", "uprobe, uretprobe, usdt",
                             "software, profile, interval", "hardware",
                             "watchpoint, asyncwatchpoint", "BEGIN, END, self, bench"]
    # every probe type has a row: by name, or in a row of names
    from bpfscope.attach import providers
    named = {n for row in section for n in row.split(", ")} | {"kretprobe", "fexit"}
    assert set(providers.PROVIDERS) <= named, set(providers.PROVIDERS) - named
    assert section["software, profile, interval"] == "yes"
    assert section["BEGIN, END, self, bench"] == section["raw_tp_special"]
    assert section["uprobe_multi"] == ("yes" if has_uprobe_multi() else "no")
    assert section["perf_event"] == "yes"      # profile and interval probes run here
    assert section["raw_tp_special"] == "yes"  # so do BEGIN and END
    if section["kprobe_multi"] == "no":
        assert section["kprobe_session"] == "no"


def test_sections_and_kernel_rows(e2e):
    r = e2e.run_cli("--info")
    assert r.returncode == 0, r.stderr
    heads = [line for line in r.stdout.splitlines() if line and not line.startswith(" ")]
    assert heads == ["System", "Build", "Kernel features", "Map types", "Probe types"]
    kernel = r.stdout.split("Kernel features\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert kernel[:4] == ["  Instruction limit: 1000000", "  btf: yes",
                          "  module btf: " + kernel[2].split(": ")[1], "  map batch: yes"]
    maps = r.stdout.split("Map types\n", 1)[1].split("\n\n", 1)[0]
    assert maps == ("  hash: yes\n  percpu hash: yes\n  array: yes\n  percpu array: yes\n"
                    "  stack_trace: yes\n  perf_event_array: yes\n  ringbuf: yes")
    assert "  version: bpfscope v" in r.stdout
