"""The progress line of a long attach or detach (runtime.progress)."""

from __future__ import annotations

from bpfscope.runtime.progress import Progress


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_quiet_while_short_then_once_a_second():
    clock, lines = Clock(), []
    p = Progress("Attaching probes", 1000, lines.append, after=1.0, clock=clock)
    for done in range(0, 100, 10):  # 0.9 s of work: nothing said
        clock.t += 0.09
        p.update(done)
    assert lines == []
    clock.t = 101.2
    p.update(120)
    clock.t = 101.7
    p.update(300)  # less than a second since the last line
    clock.t = 102.3
    p.update(640)
    assert lines == ["Attaching probes: 120 of 1000 (1 s)", "Attaching probes: 640 of 1000 (2 s)"]
    clock.t = 102.9
    p.finish("Attached")
    assert lines[-1] == "Attached 1000 probes in 2.9 s"


def test_no_closing_line_when_nothing_was_shown():
    clock, lines = Clock(), []
    p = Progress("Detaching probes", 5, lines.append, after=1.0, clock=clock)
    p.update(4)
    p.finish("Detached")
    assert lines == []


def test_the_environment_sets_the_threshold(monkeypatch):
    lines = []
    monkeypatch.setenv("BPFSCOPE_PROGRESS_AFTER", "0")
    p = Progress("Detaching probes", 3, lines.append, clock=Clock())
    p.update(0)
    assert lines == ["Detaching probes: 0 of 3 (0 s)"]
    monkeypatch.setenv("BPFSCOPE_PROGRESS_AFTER", "soon")  # unreadable: the default
    assert Progress("Detaching probes", 3, lines.append).after == 1.0
