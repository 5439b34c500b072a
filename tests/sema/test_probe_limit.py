"""max_probes bounds the probes of a whole script, for every provider."""

from __future__ import annotations

import pytest

from bpfscope.errors import SemanticError
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def _fanout(n_per_ap):
    def expand(ap):
        return [ExpandedProbe(provider="uprobe", name=f"{ap.raw}#{i}", span=ap.span)
                for i in range(n_per_ap)]
    return expand


def _analyze(src, n, config=None):
    return Analyzer(parse(src), _fanout(n), [], config=config).run()


def test_within_the_default_limit_of_1024():
    _analyze("uprobe:/bin/x:a* { } uprobe:/bin/x:b* { }", 512)


def test_over_the_limit_across_probes_points_at_the_crossing_attach_point():
    with pytest.raises(SemanticError) as e:
        _analyze("uprobe:/bin/x:a* { }\nuprobe:/bin/x:b* { }", 600)
    assert e.value.message == (
        "Can't attach to 1200 probes because it exceeds the current limit of 1024 probes.")
    assert e.value.span.line == 2


def test_the_limit_is_configurable(monkeypatch):
    _analyze("config = { max_probes = 2000 } uprobe:/bin/x:a* { } uprobe:/bin/x:b* { }", 600)
    monkeypatch.setenv("BPFTRACE_MAX_PROBES", "10")
    with pytest.raises(SemanticError, match="Can't attach to 11 probes .* limit of 10 probes"):
        _analyze("uprobe:/bin/x:a* { }", 11)
