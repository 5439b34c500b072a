"""Stack values: the exact text of bpftrace's three stack modes, raw
address decoding, map-key behaviour, and a real user stack."""

import os
import shutil
import struct
import subprocess

import pytest

from bpfscope.ksyms import KernelSymbols
from bpfscope.runtime.stacks import (Stack, make_kernel_stack,
                                     make_user_stack, stack_addresses)
from bpfscope.runtime.usyms import UserSymbols
from bpfscope.runtime.values import Formatted

KALLSYMS = """\
ffffffff816d2230 T do_sys_openat2
ffffffff816d2700 T __x64_sys_openat
ffffffff8225a650 T do_syscall_64
ffffffff81000100 T entry_SYSCALL_64_after_hwframe
ffffffffc0200000 t ext4_file_open\t[ext4]
"""

K = [0xffffffff816d22b8, 0xffffffff816d278d, 0xffffffff8225a6c1,
     0xffffffff81000176]


@pytest.fixture(scope="module")
def ks():
    return KernelSymbols.from_text(KALLSYMS)


def test_kernel_bpftrace_mode(ks):
    st = make_kernel_stack(K, ks)
    assert st.frames == ["do_sys_openat2+136", "__x64_sys_openat+141",
                         "do_syscall_64+113",
                         "entry_SYSCALL_64_after_hwframe+118"]
    assert st.text == ("\n"
                       "        do_sys_openat2+136\n"
                       "        __x64_sys_openat+141\n"
                       "        do_syscall_64+113\n"
                       "        entry_SYSCALL_64_after_hwframe+118\n")
    assert str(st) == st.text
    assert isinstance(st, Formatted)
    # As a map key: "@[" + text + "]: 3".
    assert f"@[{st.text}]: 3" == (
        "@[\n        do_sys_openat2+136\n        __x64_sys_openat+141\n"
        "        do_syscall_64+113\n"
        "        entry_SYSCALL_64_after_hwframe+118\n]: 3")


def test_kernel_indent(ks):
    st = make_kernel_stack(K[:2], ks, indent=4)
    assert st.text == "\n    do_sys_openat2+136\n    __x64_sys_openat+141\n"
    assert st.with_indent(8).text == \
        "\n        do_sys_openat2+136\n        __x64_sys_openat+141\n"


def test_kernel_perf_mode(ks):
    st = make_kernel_stack(K[:2] + [0xffffffffc0200010], ks, mode="perf")
    assert st.text == ("\n"
                       "\tffffffff816d22b8 do_sys_openat2+136\n"
                       "\tffffffff816d278d __x64_sys_openat+141\n"
                       "\tffffffffc0200010 ext4_file_open+16\n")


def test_kernel_raw_mode(ks):
    st = make_kernel_stack(K[:3], ks, mode="raw")
    assert st.text == ("\nffffffff816d22b8\nffffffff816d278d\n"
                       "ffffffff8225a6c1\n")
    assert st.frames == ["ffffffff816d22b8", "ffffffff816d278d",
                         "ffffffff8225a6c1"]


def test_kernel_unknown_and_no_symbols(ks):
    st = make_kernel_stack([0xffffffff80000000, K[0]], ks)
    assert st.text == "\n        0xffffffff80000000\n        do_sys_openat2+136\n"
    st = make_kernel_stack([K[0]], None)
    assert st.text == "\n        0xffffffff816d22b8\n"
    st = make_kernel_stack([K[0]], None, mode="perf")
    assert st.text == "\n\tffffffff816d22b8 0xffffffff816d22b8\n"


def test_empty_stack(ks):
    for mode in ("bpftrace", "perf", "raw"):
        st = make_kernel_stack([], ks, mode=mode)
        assert st.text == "\n" and len(st) == 0
    assert make_user_stack(1, [0, 0], None).text == "\n"


class FakeUsyms:
    """Resolves 0x1000.. as main, 0x2000.. as libc's read."""

    def format(self, pid, addr, show_offset=True, show_module=False,
               demangle=None):
        table = {0x1000: ("main", "/usr/bin/prog"),
                 0x2000: ("read", "/usr/lib/x86_64-linux-gnu/libc.so.6")}
        base = addr & ~0xfff
        if base not in table:
            out = f"{addr:#x}"
            return out + " ([unknown])" if show_module else out
        name, path = table[base]
        out = f"{name}+{addr - base}" if show_offset else name
        return out + f" ({path})" if show_module else out


U = [0x2010, 0x1024, 0x7f00dead]


def test_user_bpftrace_mode():
    st = make_user_stack(42, U, FakeUsyms())
    assert st.text == ("\n        read+16\n        main+36\n"
                       "        0x7f00dead\n")
    assert st.kind == "user" and st.pid == 42


def test_user_perf_mode():
    st = make_user_stack(42, U, FakeUsyms(), mode="perf")
    assert st.text == (
        "\n"
        "\t2010 read+16 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
        "\t1024 main+36 (/usr/bin/prog)\n"
        "\t7f00dead 0x7f00dead ([unknown])\n")
    st = make_user_stack(42, U[2:], None, mode="perf")
    assert st.text == "\n\t7f00dead 0x7f00dead ([unknown])\n"


def test_user_raw_mode():
    st = make_user_stack(42, U, FakeUsyms(), mode="raw")
    assert st.text == "\n2010\n1024\n7f00dead\n"


def test_addresses_from_bytes_zero_terminated_length_limit():
    raw = struct.pack("<6Q", 1, 2, 3, 0, 0, 0)
    assert stack_addresses(raw) == [1, 2, 3]
    assert stack_addresses(raw, length=5) == [1, 2, 3, 0, 0]
    assert stack_addresses(raw, limit=2) == [1, 2]
    assert stack_addresses(memoryview(raw)) == [1, 2, 3]
    assert stack_addresses([5, 6, 0, 7]) == [5, 6]
    assert stack_addresses([5, 6, 7]) == [5, 6, 7]
    assert stack_addresses(b"") == []
    # A negative Python int is the u64 it stands for.
    assert stack_addresses([-1]) == [0xffffffffffffffff]


def test_make_from_bytes(ks):
    raw = struct.pack("<4Q", K[0], K[1], 0, 0)
    st = make_kernel_stack(raw, ks)
    assert st.addrs == (K[0], K[1])
    assert make_kernel_stack(raw, ks, limit=1).frames == ["do_sys_openat2+136"]


def test_map_key_semantics(ks):
    a = make_kernel_stack(K, ks)
    b = make_kernel_stack(list(K), ks)
    assert a == b and hash(a) == hash(b)
    d = {a: 1}
    d[b] += 1
    assert d == {a: 2}
    assert a != make_kernel_stack(K, ks, mode="perf")
    assert a != make_kernel_stack(K[:3], ks)
    # User stacks are keyed by pid as well (bpftrace's key holds the pid).
    u1 = make_user_stack(1, U, FakeUsyms())
    u2 = make_user_stack(2, U, FakeUsyms())
    assert u1.text == u2.text and u1 != u2
    assert make_user_stack(1, U, FakeUsyms()) == u1
    # Kernel and user stacks never compare equal.
    assert make_kernel_stack(U, None) != make_user_stack(0, U, None)
    # Sorted by text, like other formatted keys.
    keys = sorted([make_kernel_stack(K[1:], ks), a])
    assert keys[0].sort_key <= keys[1].sort_key
    assert a.sort_key == a.text


def test_invalid_arguments():
    with pytest.raises(ValueError):
        Stack("kernel", [1], ["x"], mode="fancy")
    with pytest.raises(ValueError):
        Stack("both", [1], ["x"])
    with pytest.raises(ValueError):
        Stack("kernel", [1, 2], ["x"])


def test_real_user_stack(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    prog = str(tmp_path / "usymprog")
    src = os.path.join(os.path.dirname(__file__), "progs", "usymprog.c")
    subprocess.run(["gcc", "-O1", "-fno-inline", "-o", prog, src],
                   check=True)
    p = subprocess.Popen([prog], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        fields = p.stdout.readline().split()
        target, static = int(fields[0], 16), int(fields[1], 16)
        u = UserSymbols()
        u.preload(p.pid)
    finally:
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
    raw = struct.pack("<4Q", target + 9, static + 4, 0x10, 0)
    st = make_user_stack(p.pid, raw, u)
    assert st.text == "\n        usym_target+9\n        usym_static+4\n" \
                      "        0x10\n"
    st = make_user_stack(p.pid, raw, u, mode="perf")
    assert st.text == (f"\n\t{target + 9:x} usym_target+9 ({prog})\n"
                       f"\t{static + 4:x} usym_static+4 ({prog})\n"
                       "\t10 0x10 ([unknown])\n")


def test_real_kernel_stack():
    from bpfscope.ksyms import kernel_symbols
    try:
        ks = kernel_symbols()
    except OSError:
        pytest.skip("/proc/kallsyms is not readable")
    if ks.restricted:
        pytest.skip(ks.why)
    addr = ks.lookup_name("do_sys_openat2")
    if addr is None:
        pytest.skip("do_sys_openat2 not in this kernel")
    st = make_kernel_stack([addr + 136], ks)
    assert st.text == "\n        do_sys_openat2+136\n"


class FakeDebugUsyms(FakeUsyms):
    """Frames with debug info: 0x1024 is in main at an inlined call of
    myclock; the rest as FakeUsyms prints them. Records the lookups."""

    def __init__(self):
        self.asked = []

    def format_frames(self, pid, addr, perf=False, demangle=None,
                      return_address=False):
        self.asked.append((addr, return_address))
        if addr == 0x1024:
            if perf:
                return ["myclock (inlined)", "main+36 (/usr/bin/prog)"]
            return ["[inlined] myclock@/src/prog.c:12", "main+36@/src/prog.c:40"]
        return [self.format(pid, addr, True, perf, demangle)]


def test_user_debug_info_frames_bpftrace_mode():
    us = FakeDebugUsyms()
    st = make_user_stack(42, U, us, debug_info=True)
    assert st.text == ("\n        read+16\n"
                       "        [inlined] myclock@/src/prog.c:12\n"
                       "        main+36@/src/prog.c:40\n"
                       "        0x7f00dead\n")
    assert st.frames[1:3] == ["[inlined] myclock@/src/prog.c:12",
                              "main+36@/src/prog.c:40"]
    assert len(st) == 3  # addresses, not frames (len(ustack))
    # the leaf is where the probe fired; callers are return addresses
    assert us.asked == [(0x2010, False), (0x1024, True), (0x7f00dead, True)]


def test_user_debug_info_frames_perf_mode_repeat_the_address():
    st = make_user_stack(42, U, FakeDebugUsyms(), mode="perf", debug_info=True)
    assert st.text == (
        "\n"
        "\t2010 read+16 (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
        "\t1024 myclock (inlined)\n"
        "\t1024 main+36 (/usr/bin/prog)\n"
        "\t7f00dead 0x7f00dead ([unknown])\n")


def test_user_debug_info_off_and_raw_mode_print_as_before():
    assert make_user_stack(42, U, FakeDebugUsyms()).text == \
        make_user_stack(42, U, FakeUsyms()).text
    assert make_user_stack(42, U, FakeDebugUsyms(), mode="raw", debug_info=True).text \
        == "\n2010\n1024\n7f00dead\n"


def test_stack_keys_and_indent_keep_inlined_frames():
    a = make_user_stack(42, U, FakeDebugUsyms(), debug_info=True)
    b = make_user_stack(42, U, FakeUsyms())
    assert a == b and hash(a) == hash(b)  # the same addresses and pid
    assert a.with_indent(4).text.startswith("\n    read+16\n    [inlined] myclock")
    with pytest.raises(ValueError):
        Stack("user", [1, 2], ["a", "b", "c"])
    assert Stack("user", [1], ["a", "b"], frame_addrs=[1, 1]).frames == ["a", "b"]


def test_build_id_frames():
    from bpfscope.runtime.stacks import make_build_id_stack
    bid = bytes(range(1, 21))
    raw = (struct.pack("<i20sQ", 1, bid, 0x1149) +
           struct.pack("<i20sQ", 2, bytes(20), 0x7f0012345678) +   # ip only
           struct.pack("<i20sQ", 1, bid, 0x5))
    st = make_build_id_stack(7, raw)
    assert st.text == ("\n0102030405060708090a0b0c0d0e0f1011121314 0x1149\n"
                       "7f0012345678\n"
                       "0102030405060708090a0b0c0d0e0f1011121314 0x05\n")
    assert st.mode == "build_id" and st.pid == 7 and len(st) == 3
    other = make_build_id_stack(7, raw[:32] + struct.pack("<i20sQ", 1, bytes(20), 0x1149))
    assert st != make_build_id_stack(7, raw[:64]) and other != make_build_id_stack(7, raw[:32] * 2)
