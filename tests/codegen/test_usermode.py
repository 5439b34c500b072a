"""usermode run in the BPF interpreter: the privilege level of the cs
saved in a kprobe/uprobe's pt_regs, 1 in BEGIN, 0 in a tracepoint."""

import struct

import pytest

from bpfscope.arch.x86_64 import PT_REGS_X86_64
from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe

from .test_lower_interp import CTX_SIZE, FakeKernel


def expander(ap):
    p = ap.parts
    if p[0] == "BEGIN":
        return [ExpandedProbe("BEGIN", "BEGIN", (), None, ap.span)]
    if p[0] == "tracepoint":
        return [ExpandedProbe("tracepoint", "tracepoint:t:p", ("t", "p", 1), [], ap.span)]
    return [ExpandedProbe("kprobe", "kprobe:f", (), None, ap.span, func="f", context="regs")]


def usermode(probe, cs=0):
    an = Analyzer(parse(Source(f"{probe} {{ @r = usermode; }}")), expander, ()).run()
    k = FakeKernel(compile_program(an))
    ctx = bytearray(CTX_SIZE + 64)    # room for all of struct pt_regs
    struct.pack_into("<Q", ctx, PT_REGS_X86_64["cs"], cs)
    k.run(ctx=ctx)
    return k.value("@r")


@pytest.mark.parametrize("cs, want", [(0x33, 1), (0x2b, 1), (0x10, 0), (0x0, 0), (0x11, 0)])
def test_the_saved_cs_privilege_level(cs, want):
    assert usermode("kprobe:f", cs) == want


def test_begin_is_user_mode_and_a_tracepoint_is_not():
    assert usermode("BEGIN", 0x10) == 1
    assert usermode("tracepoint:t:p", 0x33) == 0
