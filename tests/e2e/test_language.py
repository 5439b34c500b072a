"""Language features of bpftrace 0.26 run for real: block expressions and
block scopes of scratch variables, macros, named parameters (getopt)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("kernel")


def test_block_expressions_and_scopes(e2e):
    r = e2e.run_prog(r'''BEGIN {
        $x = { let $y = 2; $y * 3 };
        $s = { let $t = "ab"; $t };
        printf("%d %s\n", $x, $s);
        if ($x == 6) { $v = 1; printf("%d\n", $v); } else { $v = "no"; printf("%s\n", $v); }
        $a = 1;
        if ($x > 0) { $a = 2; }
        printf("%d %d\n", $a, { $a + 40 });
        exit();
    }''')
    assert r.stdout == "6 ab\n1\n2 42\n\n\n"


def test_let_starts_at_zero_each_time_it_runs(e2e):
    r = e2e.run_prog(r'''BEGIN {
        $i = 0;
        while ($i < 3) { let $n: int64; $n += $i; printf("%d ", $n); $i++; }
        printf("\n");
        exit();
    }''')
    assert r.stdout == "0 1 2 \n\n\n"


def test_variable_of_a_branch_is_gone_after_it(e2e):
    r = e2e.run_cli("-e", "BEGIN { if (1) { $b = 1; } print($b); }")
    assert r.returncode == 1
    assert r.stderr == ("stdin:1:34-36: ERROR: Undefined or undeclared variable used: $b\n"
                        "BEGIN { if (1) { $b = 1; } print($b); }\n"
                        "                                 ~~\n")
