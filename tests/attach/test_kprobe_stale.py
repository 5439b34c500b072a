"""Stale tracefs probe events of killed bpfscope runs: found by the dead
pid in their group name, removed; a live tracer's events are left alone."""

import os

from bpfscope.attach import kprobe

TEXT = ("p:bpfscope_111/p_vfs_read_1 vfs_read\n"
        "r:bpfscope_222/r_vfs_read_2 vfs_read\n"
        "p:kprobes/mine vfs_write\n"
        "p:bpfscope_333/p_x_1 x\n")


def test_only_dead_tracers_events_are_stale():
    alive = {222}.__contains__
    assert kprobe.stale_events(TEXT, alive) == ["bpfscope_111/p_vfs_read_1",
                                                "bpfscope_333/p_x_1"]
    own = f"p:bpfscope_{os.getpid()}/p_a_1 a\n"
    assert kprobe.stale_events(own, lambda pid: False) == []


def test_sweep_writes_removals(tmp_path, monkeypatch):
    (tmp_path / "kprobe_events").write_text(TEXT)
    real = kprobe.stale_events
    monkeypatch.setattr(kprobe, "stale_events",
                        lambda text: real(text, {222, 333}.__contains__))
    assert kprobe.sweep_stale(str(tmp_path)) == ["bpfscope_111/p_vfs_read_1"]
    assert (tmp_path / "kprobe_events").read_text().endswith("-:bpfscope_111/p_vfs_read_1\n")
