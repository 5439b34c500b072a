"""The kernel functions (kfuncs) bpftrace 0.26 calls where the kernel has
them, and what runs without: len(@map) with bpf_map_sum_elem_count (Linux
6.6), else (6.1, or an array map, whose count the kernel does not keep)
bpf_for_each_map_elem's count of the elements it visited; strlen() with
bpf_strnlen (6.17), else unrolled over the buffer. Real programs, run
in-process, each with the kfunc hidden from the compiler and not."""

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


def kfunc_or_not(monkeypatch, name: str, release: str, kfunc: bool) -> None:
    if not kfunc:
        real = Analyzer.kernel_function
        monkeypatch.setattr(Analyzer, "kernel_function", lambda self, n: None
                            if n == name else real(self, n))
    elif Analyzer.kernel_function(None, name) is None:
        pytest.skip(f"this kernel has no {name} (Linux {release})")


@pytest.mark.parametrize("kfunc", [True, False], ids=["kfunc", "for_each_map_elem"])
def test_len_with_and_without_the_kfunc(monkeypatch, kfunc):
    kfunc_or_not(monkeypatch, "bpf_map_sum_elem_count", "6.6", kfunc)
    lines = run(SCRIPT).splitlines()
    # an array has all its slots: for_each_map_elem visits each
    assert "@n: 2" in lines and "@na: 4" in lines, lines


@pytest.mark.parametrize("kfunc", [True, False], ids=["bpf_strnlen", "unrolled"])
def test_strlen_with_and_without_the_kfunc(monkeypatch, kfunc):
    kfunc_or_not(monkeypatch, "bpf_strnlen", "6.17", kfunc)
    out = run('BEGIN { $s = "abc"; $e = ""; $f = str(kptr(0), 4); '
              'printf("%d %d %d %d\\n", strlen($s), strlen($e), strlen($f), '
              'strlen(str_concat($s, "xy"))); exit(); }')
    # str() of an unreadable address is empty
    assert out.splitlines()[0] == "3 0 0 5", out
