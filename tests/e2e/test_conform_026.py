"""bpftrace 0.26 behaviours found missing by running its runtime suite:
each test here causes its own events (a small program of the test's own,
run with -c) and checks bpfscope's real output."""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

SIX = r"""
struct rec { char *p; char tag[5]; unsigned char mac[6]; char name[8]; };
__attribute__((noinline)) void take(struct rec *r) { __asm__ volatile("" :: "r"(r) : "memory"); }
int main(void) {
    struct rec r = { 0, {'h', 'e', 'l', 'l', 'o'}, {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}, "ab" };
    take(&r);
    return 0;
}
"""


@pytest.fixture(scope="module")
def six(e2e, tmp_path_factory):
    return e2e.build_c(tmp_path_factory, SIX, "conform_six")


REC = "struct rec { char *p; char tag[5]; char mac[6]; char name[8]; } "


def on_take(e2e, six, body: str) -> list[str]:
    """The lines printed by ``body`` run at six's take(), $r its struct rec."""
    r = e2e.run_cli("-q", "-e", f"{REC}uprobe:{six}:take {{ $r = (struct rec *)arg0; {body} }}",
                    "-c", six)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_char_array_without_nul_keeps_all_its_chars(e2e, six):
    # char tag[5] = "hello" has no NUL: bpftrace prints all five chars,
    # in printf and through a variable; a shorter string stops at its NUL
    out = on_take(e2e, six, '$t = $r->tag; printf("%s|%s|%s\\n", $r->tag, $t, $r->name);')
    assert out[0] == "hello|hello|ab"


def test_macaddr_of_a_char_array_member_reads_six_bytes(e2e, six):
    out = on_take(e2e, six, 'printf("%s\\n", macaddr($r->mac)); @m = macaddr($r->mac);')
    assert out[0] == "0A:0B:0C:0D:0E:0F"
    assert "@m: 0A:0B:0C:0D:0E:0F" in out


def test_positional_parameters_in_every_base(e2e):
    r = e2e.run_prog('begin { printf("%d %o 0x%x %d %s\\n", $1, $2, $3, $4, str($5)); }',
                     "123", "0775", "0x123", "-5", "word")
    assert r.stdout.splitlines()[0] == "123 775 0x123 -5 word"


def test_str_of_a_parameter_plus_an_offset_and_kaddr_of_a_parameter(e2e):
    # docs/language.md: str($1 + k) is the parameter's text from byte k;
    # kaddr(str($1)) takes the text as the symbol's name
    addr = None
    with open("/proc/kallsyms") as f:
        for line in f:
            a, _, name = line.split()[:3]
            if name == "vfs_read":
                addr = int(a, 16)
                break
    if not addr:
        pytest.skip("/proc/kallsyms shows no address of vfs_read to this user")
    r = e2e.run_prog('begin { printf("%s|%s|%lx\\n", str($1 + 1), str(4 + $1), kaddr(str($2))); '
                     '@ = kaddr(str($2)) == kaddr("vfs_read"); exit(); }', "hello", "vfs_read")
    assert r.stdout.splitlines()[0] == f"ello|o|{addr:x}"
    assert "@: true" in r.stdout
    bad = e2e.run_cli("-e", 'begin { printf("%s\\n", str($1 + 6)); }', "hello")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0] == (
        "stdin:1:28-34: ERROR: only addition of a single constant less or equal to the "
        "length of $1 (which is 5) is allowed inside str()")


def test_two_uprobes_on_one_function_run_in_the_scripts_order(e2e, six):
    # the kernel runs a function's uprobe consumers newest first: bpfscope
    # attaches them in reverse so the first probe written runs first
    for kind in ("uprobe", "uretprobe"):
        r = e2e.run_cli("-q", "-e", f'{kind}:{six}:take {{ printf("first"); }} '
                        f'{kind}:{six}:take {{ printf(" second\\n"); }} '
                        f'{kind}:{six}:take {{ printf("third\\n"); }}', "-c", six)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[:2] == ["first second", "third"], kind


SPIN = r"""
#include <unistd.h>
volatile unsigned long x;
int main(void) { for (;;) for (unsigned long i = 0; i < 100000000UL; i++) x += i; }
"""


@pytest.mark.parametrize("probe", ["software:cpu-clock:1000000", "profile:hz:199"])
def test_sampling_probes_with_p_count_that_process_alone(e2e, tmp_path_factory, probe):
    # as bpftrace: -p opens the perf events for the process, so the other
    # processes running meanwhile (this test's own) are never sampled
    spin = e2e.build_c(tmp_path_factory, SPIN, "conform_spin")
    p = subprocess.Popen([spin])
    try:
        r = e2e.run_cli("-q", "-e", f'{probe} {{ @[pid] = count(); }} '
                        'interval:s:1 { exit(); }', "-p", str(p.pid))
    finally:
        p.kill()
        p.wait()
    assert r.returncode == 0, r.stderr
    keys = re.findall(r"^@\[(\d+)\]: \d+$", r.stdout, re.M)
    assert keys == [str(p.pid)], r.stdout


ARRAYS = r"""
struct arrs { int d[2]; unsigned short e[2]; };
__attribute__((noinline)) void take(struct arrs *a) { __asm__ volatile("" :: "r"(a) : "memory"); }
int main(void) { struct arrs a = { {5, 6}, {9, 10} }; take(&a); return 0; }
"""


def test_buf_of_an_array_member_is_its_bytes(e2e, tmp_path_factory):
    prog = e2e.build_c(tmp_path_factory, ARRAYS, "conform_arrays")
    r = e2e.run_cli("-q", "-e", 'struct arrs { int d[2]; uint16_t e[2]; } '
                    f'uprobe:{prog}:take {{ $a = (struct arrs *)arg0; '
                    'printf("%r|%r\\n", buf($a->d), buf($a->e)); @ = buf($a->d, 4); }',
                    "-c", prog)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == (r"\x05\x00\x00\x00\x06\x00\x00\x00|"
                                        r"\x09\x00\x0a\x00")
    assert r"@: \x05\x00\x00\x00" in r.stdout


def test_buf_of_a_string_pads_to_the_length_given(e2e):
    r = e2e.run_prog('begin { @[buf("ok_key", 8), 1] = 1; printf("%r|%r\\n", buf("ab", 4), '
                     'buf("hello", 2)); }')
    assert r.stdout.splitlines()[0] == r"ab\x00\x00|he"
    assert r"@[ok_key\x00\x00, 1]: 1" in r.stdout


def test_system_output_is_a_syscall_record_in_json(e2e):
    r = e2e.run_cli("--unsafe", "-q", "-f", "json", "-e",
                    'begin { system("echo a b c"); printf("p\\n"); }')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert '{"type": "syscall", "data": "a b c\\n"}' in lines
    assert '{"type": "printf", "data": "p\\n"}' in lines
    # text: the command's output as it is
    r = e2e.run_cli("--unsafe", "-q", "-e", 'begin { system("echo a b c"); }')
    assert r.stdout.startswith("a b c\n")


def test_strftime_values_are_their_text_in_json(e2e):
    r = e2e.run_prog('begin { print((1, strftime("%y|%m", 0))); @s = strftime("%y", 0); '
                     '@n = nsecs; }', "-f", "json")
    lines = r.stdout.splitlines()
    assert re.fullmatch(r'\{"type": "value", "data": \[1,"\d\d\|\d\d"\]\}', lines[0]), lines
    assert any(re.fullmatch(r'\{"type": "map", "data": \{"@s": "\d\d"\}\}', ln) for ln in lines)
    assert any(re.fullmatch(r'\{"type": "map", "data": \{"@n": \d+\}\}', ln) for ln in lines)
