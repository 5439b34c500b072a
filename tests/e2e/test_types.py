"""Kernel and script-defined C types in real programs: BTF-typed curtask
chains, a tracepoint's user pointer followed to a struct, a struct passed
to a function of a test program (bitfields, nested structs, arrays, char
arrays, a pointer chain), struct values in maps and print(), array casts,
and the errors for a wrong member."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

STRUCTS = r"""
struct Inner { short s; char tag[3]; };
struct Foo {
  int a;
  char name[8];
  struct Foo *next;
  unsigned int f:3, g:5;
  int neg:4;
  struct Inner in;
  long arr[2];
  union { int u1; char u2; };
};
"""

C_MAIN = STRUCTS + r"""
__attribute__((noinline)) int take(struct Foo *p) { asm volatile("" :: "r"(p) : "memory"); return p->a; }
int main(void) {
  struct Foo b = {.a = 7, .name = "second", .next = 0, .f = 1, .g = 2, .neg = -1,
                  .in = {.s = -5, .tag = "hi"}, .arr = {10, 20}, .u1 = 99};
  struct Foo a = {.a = 1, .name = "first", .next = &b, .f = 5, .g = 17, .neg = -3,
                  .in = {.s = 300, .tag = "ab"}, .arr = {-1, 1L << 40}, .u1 = 1234};
  return take(&a) - 1;
}
"""


@pytest.fixture(scope="module")
def structs_prog(tmp_path_factory):
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("no gcc to build the struct test program")
    d = tmp_path_factory.mktemp("types")
    (d / "structs.c").write_text(C_MAIN)
    subprocess.run([cc, "-O0", "-o", str(d / "structs"), str(d / "structs.c")],
                   check=True, capture_output=True)
    return str(d / "structs")


def test_curtask_chains_agree_with_the_builtins(e2e):
    r = e2e.run_prog('BEGIN { printf("%d %d %d %d %d\\n", curtask->pid == tid, '
                     'curtask.real_parent->tgid == ppid, (*curtask).tgid == pid, '
                     'curtask->comm == comm, sizeof(struct task_struct) > 1000); exit(); }')
    assert r.stdout.splitlines()[0] == "1 1 1 1 1"


def test_tracepoint_user_pointer_to_a_struct(e2e, helper):
    prog = ('tracepoint:syscalls:sys_enter_clock_nanosleep /comm == "bse2e"/ '
            '{ printf("%d %d\\n", args.rqtp->tv_sec, args.rqtp.tv_nsec); '
            'print(*args.rqtp); @t = *args.rqtp; exit(); }')
    r = e2e.run_prog(prog, "-c", f"{helper} sleep 1234")
    assert r.stdout == ("1 234000000\n{ .tv_sec = 1, .tv_nsec = 234000000 }\n\n\n"
                        "@t: { .tv_sec = 1, .tv_nsec = 234000000 }\n")
    r = e2e.run_prog(prog, "-c", f"{helper} sleep 1234", "-f", "json")
    assert '{"type": "value", "data": {"tv_sec": 1, "tv_nsec": 234000000}}' in r.stdout


def test_script_struct_through_a_user_pointer(e2e, structs_prog):
    prog = STRUCTS + ("uprobe:%s:take { $p = (struct Foo *)arg0; "
                      'printf("%%d %%s %%d %%d %%d %%d %%s %%ld %%d %%d %%s\\n", $p->a, $p->name, '
                      "$p.f, $p.g, $p.neg, $p.in.s, $p.in.tag, $p.arr[1], $p.u1, "
                      '$p->next->a, $p->next->next == 0 ? "end" : "more"); '
                      "print(*$p->next); print(($p + 1) - $p); "
                      "@names[$p->next->name] = count(); @in = $p->in; }" % structs_prog)
    r = e2e.run_prog(prog, "-c", structs_prog)
    assert r.stdout == (
        # bitfields read unsigned, as bpftrace 0.26 (neg:4 of -3 is 13)
        "1 first 5 17 13 300 ab 1099511627776 1234 7 end\n"
        "{ .a = 7, .name = second, .next = 0, .f = 1, .g = 2, .neg = 15, "
        ".in = { .s = -5, .tag = hi }, .arr = [10,20], .u1 = 99, .u2 = 99 }\n"
        "56\n\n\n"
        "@in: { .s = 300, .tag = ab }\n"
        "@names[second]: 1\n")


def test_array_casts_and_enum_constants(e2e):
    r = e2e.run_prog('enum Color { RED, GREEN = 5, BLUE }; '
                     'BEGIN { $a = (uint8[8])12345; printf("%x %x %d\\n", $a[0], $a[1], (uint64)$a); '
                     'print($a); print($a == (uint8[8])12345); '
                     'printf("%d %d\\n", BLUE, TASK_COMM_LEN); exit(); }')
    assert r.stdout.splitlines()[:4] == ["39 30 12345", "[57,48,0,0,0,0,0,0]", "true", "6 16"]


def test_a_missing_member_is_a_located_error(e2e):
    r = e2e.run_cli("-e", "BEGIN { print(curtask->no_such_thing); }")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("stdin:1:15-37: ERROR: Struct/union of type 'struct task_struct' "
                               "does not contain a field named 'no_such_thing'")


def test_rawtracepoint_args_are_btf_typed_pointers(e2e):
    r = e2e.run_prog('rawtracepoint:sched_process_exec /args.p->tgid == cpid/ '
                     '{ printf("%d %s\\n", args.p.pid == pid, args.p->comm); exit(); }',
                     "-c", "/bin/true")
    assert r.stdout == "1 true\n\n\n"


def test_str_of_a_user_address_in_a_kernel_probe(e2e, helper):
    # pt_regs->si of openat is the caller's path, in user memory
    r = e2e.run_prog('rawtracepoint:sys_enter /args.id == 257 && comm == "bse2e"/ '
                     '{ @[str(args.regs->si)] = count(); }',
                     "-c", f"{helper} open /nonexistent/bpfscope-types 3")
    assert "@[/nonexistent/bpfscope-types]: 3\n" in r.stdout


def test_values_made_by_functions_kept_in_variables(e2e):
    # tcpaccept.bt and friends keep ntop() results in variables for printf
    r = e2e.run_prog('BEGIN { $x = ntop(0x0100007f); $y = $x; '
                     'printf("%s|%s\\n", $x, $y); @m[$y] = 1; exit(); }')
    assert r.stdout == "127.0.0.1|127.0.0.1\n\n\n@m[127.0.0.1]: 1\n"
