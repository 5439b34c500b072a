"""bpftrace 0.26's language, functions and output where its runtime suite
found bpfscope different (session 25): each test runs the real CLI, on
events of the test's own where the behaviour depends on them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

COMM = "bslang26"


@pytest.fixture
def own_helper(helper, tmp_path):
    path = tmp_path / COMM
    shutil.copy(helper, path)
    return str(path)


def test_operands_with_assignments_are_evaluated_left_to_right(e2e, own_helper):
    # each getpid call of the helper: $n = 0, 1, 2; the left block sees
    # $n + 1, the right $n + 2 (bpftrace 0.26: 5 for $n = 1)
    t = e2e.Trace("-e", f'tracepoint:syscalls:sys_enter_getpid /comm == "{COMM}"/ {{ '
                  '$n = @c; @c++; $v = { $n += 1; $n } + { $n += 1; $n }; '
                  'printf("%d %d %d\\n", $v, $n - 2, { $n += 10; $n }); '
                  'if (@c == 3) { exit(); } }')
    subprocess.run([own_helper, "getpid", "3"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out.splitlines()[:3] == ["3 0 12", "5 1 13", "7 2 14"]


def test_a_string_cast_to_bool_is_whether_it_is_empty(e2e, own_helper):
    # comm of the helper's getpid calls is not empty; the literals are
    t = e2e.Trace("-e", f'tracepoint:syscalls:sys_enter_getpid /comm == "{COMM}"/ {{ '
                  '$c = comm; print(((bool)$c, (bool)"", (bool)"x")); exit(); }')
    subprocess.run([own_helper, "getpid", "1"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out.splitlines()[0] == "(true, false, true)"


def test_cat_stops_at_max_cat_bytes_and_names_a_missing_file(e2e, tmp_path):
    f = tmp_path / "digits"
    f.write_text("0123456789\n")
    r = e2e.run_prog(f'config = {{ max_cat_bytes = 4 }} BEGIN {{ cat("{f}"); '
                     f'cat("{tmp_path}/none"); printf("|\\n"); exit(); }}')
    assert r.stdout.startswith("0123|\n")
    assert r.stderr == f"ERROR: failed to open file '{tmp_path}/none' (No such file or directory)\n"


def test_division_by_zero_is_one_with_a_located_warning(e2e, own_helper):
    # @z is 0 on the first getpid call of the helper, 2 on the second
    t = e2e.Trace("-e", f'tracepoint:syscalls:sys_enter_getpid /comm == "{COMM}"/ {{ '
                  'printf("%d %d\\n", 10 / @z, 10 % @z); @z += 2; if (@z == 4) { exit(); } }')
    subprocess.run([own_helper, "getpid", "2"], check=True)
    out, err = t.finish()
    assert t.returncode == 0, err
    assert out.splitlines()[:2] == ["1 1", "5 0"]
    warning = ("WARNING: Divide or modulo by 0 detected. This can lead to unexpected "
               "results. 1 is being used as the result.")
    lines = [ln for ln in err.splitlines() if warning in ln]
    assert [ln.split(": WARNING")[0] for ln in lines] == ["stdin:1:79-86", "stdin:1:88-95"]


def test_strerror_prints_its_text_in_json(e2e):
    r = e2e.run_prog("BEGIN { print(strerror(7)); print((strerror(2), 1)); exit(); }",
                     "-f", "json")
    lines = r.stdout.splitlines()
    assert '{"type": "value", "data": "Argument list too long"}' in lines
    assert '{"type": "value", "data": ["No such file or directory",1]}' in lines
