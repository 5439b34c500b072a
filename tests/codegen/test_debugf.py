"""debugf() run in the BPF interpreter: what bpf_trace_printk is handed
(the NUL-terminated format, its size, integers by value, strings by
address)."""

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer

from .test_lower_interp import ID, FakeKernel, _bytes, expander, make_ctx


class PrintkKernel(FakeKernel):
    def __init__(self, script):
        super().__init__(script)
        self.printk = []

    def helper(self, hid, args, mem):
        if ID[hid] != "trace_printk":
            return super().helper(hid, args, mem)
        fmt = _bytes(mem, args[0], args[1])
        self.printk.append((fmt, args[2:5], _bytes(mem, args[3], 4)))
        return len(fmt)


def test_trace_printk_arguments():
    src = 'tracepoint:t:p { debugf("v=%d s=%s x=%lx\\n", args.a, "abc", args.ua + 1); }'
    an = Analyzer(parse(Source(src)), expander, ()).run()
    k = PrintkKernel(compile_program(an))
    k.run(ctx=make_ctx(a=-5, ua=0xfe))
    (fmt, (a, _, c), s), = k.printk
    assert fmt == b"v=%d s=%s x=%lx\n\0"
    assert a == (-5) & (2**64 - 1) and c == 0xff and s == b"abc\0"
