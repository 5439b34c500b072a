"""write_user() run in the BPF interpreter: the bytes bpf_probe_write_user
is handed and what the call returns to the script."""

import struct

from bpfscope.arch.x86_64 import PT_REGS_X86_64
from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer

from .test_lower_interp import CTX_SIZE, FakeKernel, _bytes
from .test_usermode import expander

USER = 0x7000_0000


class UserKernel(FakeKernel):
    """probe_write_user into one page of 'user' memory; -EFAULT elsewhere."""

    def __init__(self, script):
        super().__init__(script)
        self.user = bytearray(64)
        self.mem.add(USER, self.user)

    def helper(self, hid, args, mem):
        from .test_lower_interp import ID
        if ID[hid] != "probe_write_user":
            return super().helper(hid, args, mem)
        dst, src, n = args[0], args[1], args[2]
        if not USER <= dst <= USER + len(self.user) - n:
            return -14
        self.user[dst - USER:dst - USER + n] = _bytes(mem, src, n)
        return 0


def run(body, arg0):
    an = Analyzer(parse(Source(f"kprobe:f {{ {body} }}")), expander, (),
                  {"unsafe": True}).run()
    k = UserKernel(compile_program(an))
    ctx = bytearray(CTX_SIZE + 64)
    struct.pack_into("<Q", ctx, PT_REGS_X86_64["rdi"], arg0)
    k.run(ctx=ctx)
    return k


def test_a_string_and_an_integer_are_written():
    k = run('$s = "patched"; @a = write_user(arg0, $s, 8); '
            '@b = write_user(arg0 + 8, (int32)0x11223344, 4);', USER)
    assert bytes(k.user[:12]) == b"patched\0" + bytes.fromhex("44332211")
    assert k.value("@a") == 1 and k.value("@b") == 1


def test_a_failed_write_is_false():
    k = run('@a = write_user(arg0, "xy", 2);', 0x10)
    assert k.value("@a") == 0
    assert bytes(k.user) == bytes(64)
