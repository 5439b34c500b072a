"""Session.report_missed turns the kernel's recursion-miss counters into
warnings, one per program that missed events."""

from types import SimpleNamespace

from bpfscope.runtime import session as S


class Sink:
    def __init__(self):
        self.warnings = []

    def warning(self, msg):
        self.warnings.append(msg)


def test_missed_events_are_reported_per_program(monkeypatch):
    misses = {10: 0, 11: 3}
    monkeypatch.setattr(S, "prog_info", lambda fd: SimpleNamespace(recursion_misses=misses[fd]))
    script = SimpleNamespace(programs=[SimpleNamespace(name="kprobe:a"),
                                       SimpleNamespace(name="kprobe:b")])
    sess = S.Session.__new__(S.Session)
    sess.script, sess.prog_fds, sess.sink = script, [10, 11], Sink()
    sess.report_missed()
    assert sess.sink.warnings == [
        "kprobe:b: 3 events were missed: the program was already running on their CPU"]
