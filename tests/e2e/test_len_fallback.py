"""len(@map) with and without the kfunc bpf_map_sum_elem_count (Linux 6.6):
without it (6.1, or an array map, whose count the kernel does not keep)
bpf_for_each_map_elem's count of the elements it visited is the length,
as in bpftrace 0.26. Real programs, run in-process: BEGIN fills the map
and takes its length."""

from __future__ import annotations

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.sema.analyzer import Analyzer

pytestmark = pytest.mark.usefixtures("kernel")

SCRIPT = ('let @a = percpuarray(4); BEGIN { @m[1] = 1; @m[2] = 2; @m[3] = 3; delete(@m, 2); '
          '@n = len(@m); @a[0] = count(); @na = len(@a); clear(@m); clear(@a); exit(); }')


def run(script: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = api.run(api.compile_script(script), TextOutput(out, err), duration=10)
    assert code == 0, err.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("kfunc", [True, False], ids=["kfunc", "for_each_map_elem"])
def test_len_with_and_without_the_kfunc(monkeypatch, kfunc):
    if not kfunc:
        real = Analyzer.kernel_function
        monkeypatch.setattr(Analyzer, "kernel_function", lambda self, name: None
                            if name == "bpf_map_sum_elem_count" else real(self, name))
    elif Analyzer.kernel_function(None, "bpf_map_sum_elem_count") is None:
        pytest.skip("this kernel has no bpf_map_sum_elem_count (Linux 6.6)")
    lines = run(SCRIPT).splitlines()
    # an array has all its slots: for_each_map_elem visits each
    assert "@n: 2" in lines and "@na: 4" in lines, lines
