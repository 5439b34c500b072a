"""Lowered programs run in the BPF interpreter with stubbed helpers.

A fake kernel (``FakeKernel``) implements the helpers the lowering calls:
maps are Python dicts keyed by the key bytes read from interpreter memory,
each value living in a memory region of its own so map_lookup_elem can hand
out a pointer; ringbuf_reserve hands out a fresh buffer and submit records
its bytes. Per-CPU maps behave as one CPU. Tracepoint contexts are byte
buffers with the layout of ``TP_ARGS``.
"""

import struct

import pytest

from bpfscope.codegen.helpers import HELPERS
from bpfscope.codegen.interp import InterpError, Interpreter, Memory
from bpfscope.codegen.lower import compile_program
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.runtime.values import hist_index, int_div, lhist_index
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ArgField, ExpandedProbe

ID = {v: k for k, v in HELPERS.items()}

# ctx layout: a (s64 @8), b (s64 @16), ua (u64 @24), ub (u64 @32),
# i32 (s32 @40), u16 (u16 @44), i8 (s8 @46), comm (char[16] @48),
# name (__data_loc @64), text (char[5] @68, not NUL terminated when full)
TP_ARGS = [
    ArgField("a", 8, 8, True, "int", "long"),
    ArgField("b", 16, 8, True, "int", "long"),
    ArgField("ua", 24, 8, False, "int", "unsigned long"),
    ArgField("ub", 32, 8, False, "int", "unsigned long"),
    ArgField("i32", 40, 4, True, "int", "int"),
    ArgField("u16", 44, 2, False, "int", "unsigned short"),
    ArgField("i8", 46, 1, True, "int", "s8"),
    ArgField("comm", 48, 16, False, "char_array", "char[16]", 16),
    ArgField("name", 64, 4, False, "data_loc_string", "__data_loc char[]"),
    ArgField("text", 68, 5, False, "char_array", "char[5]", 5),
]
CTX_SIZE = 128
CTX_ADDR = 0x1000_0000


def expander(ap):
    p = ap.parts
    if p[0] in ("BEGIN", "END"):
        return [ExpandedProbe(p[0], p[0], (), None, ap.span)]
    if p[0] == "tracepoint":
        return [ExpandedProbe("tracepoint", "tracepoint:t:p", ("t", "p", 1), TP_ARGS, ap.span)]
    raise AssertionError(p)


def make_ctx(a=0, b=0, ua=0, ub=0, i32=0, u16=0, i8=0, comm=b"", name=b"", text=b""):
    buf = bytearray(CTX_SIZE)
    struct.pack_into("<qqQQiHb", buf, 8, a, b, ua, ub, i32, u16, i8)
    buf[48:48 + len(comm[:16])] = comm[:16]
    # __data_loc: length << 16 | offset of the string inside the record
    buf[64:68] = struct.pack("<I", (len(name) + 1) << 16 | 80)
    buf[80:80 + len(name)] = name
    buf[68:68 + len(text[:5])] = text[:5]
    return buf


def _bytes(mem, addr, n):
    buf, i = mem._find(addr, n)
    return bytes(buf[i:i + n])


class FakeKernel:
    def __init__(self, script, pid=1234, tid=1235, comm=b"bash"):
        self.script = script
        self.fds = {name: 100 + i for i, name in enumerate(script.maps)}
        self.names = {fd: name for name, fd in self.fds.items()}
        self.maps = {name: {} for name in script.maps}
        self.addr = {}          # (map, key) -> address of its value
        self.next_addr = 0x2000_0000
        self.events = []
        self.calls = []
        self.pid, self.tid, self.comm = pid, tid, comm
        self.ns = 1000
        self.mem = Memory()
        self.stack = []  # what get_stack walks: addresses, or an error code

    def map_value(self, fd, off):
        """The address of byte ``off`` of a one-element array's value."""
        mname = self.names[fd]
        key = b"\0" * self.script.maps[mname].key_size
        if key not in self.maps[mname]:
            self.maps[mname][key] = bytearray(self.script.maps[mname].value_size)
            self.addr[(mname, key)] = self._alloc(self.maps[mname][key])
        return self.addr[(mname, key)] + off

    def _alloc(self, buf):
        a = self.next_addr
        self.next_addr += 0x10000
        self.mem.add(a, buf)
        return a

    def helper(self, hid, args, mem):
        name = ID[hid]
        self.calls.append(name)
        if name == "get_smp_processor_id":
            return 0  # a one-CPU kernel
        if name == "map_lookup_percpu_elem":
            # a one-CPU kernel: CPU 0 holds the value, there are no others
            if args[2] != 0:
                return 0
            name = "map_lookup_elem"
        if name in ("map_lookup_elem", "map_update_elem", "map_delete_elem"):
            mname = self.names[args[0]]
            spec = self.script.maps[mname]
            key = _bytes(mem, args[1], spec.key_size)
            entries = self.maps[mname]
            if mname in (".lost", ".exit", ".scratch") and key not in entries:
                # array maps: every index exists from the start
                entries[key] = bytearray(spec.value_size)
                self.addr[(mname, key)] = self._alloc(entries[key])
            if name == "map_lookup_elem":
                return self.addr[(mname, key)] if key in entries else 0
            if name == "map_delete_elem":
                return 0 if entries.pop(key, None) is not None else -2
            val = _bytes(mem, args[2], spec.value_size)
            if key in entries:
                entries[key][:] = val
            else:
                entries[key] = bytearray(val)
                self.addr[(mname, key)] = self._alloc(entries[key])
            return 0
        if name == "for_each_map_elem":
            # each element once, in insertion order, until the callback says 1
            mname = self.names[args[0]]
            spec = self.script.maps[mname]
            n = 0
            for key in list(self.maps[mname]):
                n += 1
                kaddr = self._alloc(bytearray(key.ljust(spec.key_size, b"\0")))
                if self.vm.call_function(args[1], [args[0], kaddr, self.addr[(mname, key)],
                                                   args[2]]) == 1:
                    break
            return n
        if name == "loop":
            # bpf_loop: index 0.. args[0]-1 until the callback says 1
            assert args[3] == 0 and args[0] <= 1 << 23
            n = 0
            for i in range(args[0]):
                n += 1
                if self.vm.call_function(args[1], [i, args[2]]) == 1:
                    break
            return n
        if name == "ringbuf_reserve":
            buf = bytearray(args[1])
            a = self._alloc(buf)
            self.pending = (a, buf)
            return a
        if name == "ringbuf_submit":
            assert args[0] == self.pending[0]
            self.events.append(bytes(self.pending[1]))
            return 0
        if name == "ringbuf_output":
            # reserve, copy and submit in one call
            assert args[3] == 0
            self.events.append(_bytes(mem, args[1], args[2]))
            return 0
        if name == "ktime_get_ns":
            self.ns += 1
            return self.ns
        if name == "get_current_pid_tgid":
            return self.pid << 32 | self.tid
        if name == "get_current_comm":
            n = args[1]
            data = self.comm[:n - 1] + b"\0"
            for i, c in enumerate(data):
                mem.write(args[0] + i, 1, c)
            return 0
        if name in ("probe_read_kernel_str", "probe_read_user_str", "probe_read_str"):
            dst, n, src = args[0], args[1], args[2]
            out = b""
            while len(out) < n - 1:
                c = mem.read(src + len(out), 1)
                if c == 0:
                    break
                out += bytes([c])
            for i, c in enumerate(out + b"\0"):
                mem.write(dst + i, 1, c)
            return len(out) + 1
        if name == "get_stack":
            # as the kernel: at most size/8 frames, the rest of buf zeroed,
            # all of it zeroed on an error
            # (BPF_F_USER_BUILD_ID: 32-byte bpf_stack_build_id frames, here
            # all with build id BID and the address as the offset)
            dst, size = args[1], args[2]
            elem = 32 if args[3] & (1 << 11) else 8
            frames = [] if isinstance(self.stack, int) else self.stack[:size // elem]
            data = b"".join(struct.pack("<i20sQ", 1, BID, a) if elem == 32 else
                            struct.pack("<Q", a) for a in frames).ljust(size, b"\0")
            for i, c in enumerate(data):
                mem.write(dst + i, 1, c)
            return self.stack if isinstance(self.stack, int) else elem * len(frames)
        if name in ("probe_read_kernel", "probe_read_user", "probe_read"):
            # as the kernel: a read that faults zeroes dst (codegen zeroes
            # large buffers by reading from address 0)
            try:
                data = [mem.read(args[2] + i, 1) for i in range(args[1])]
            except InterpError:
                data, ret = [0] * args[1], -14
            else:
                ret = 0
            for i, c in enumerate(data):
                mem.write(args[0] + i, 1, c)
            return ret
        raise AssertionError(f"unexpected helper {name}")

    def run(self, prog_index=0, ctx=None, stack_fill=None):
        """Run a program; ``stack_fill``: a byte its stack starts filled
        with (the kernel's stack holds what earlier programs left)."""
        prog = self.script.programs[prog_index].program
        mem = self.mem
        ctx_addr = 0
        if ctx is not None:
            if not any(b == CTX_ADDR for b, _ in mem.regions):
                mem.add(CTX_ADDR, bytearray(CTX_SIZE))
            region = next(buf for b, buf in mem.regions if b == CTX_ADDR)
            region[:] = ctx
            ctx_addr = CTX_ADDR
        vm = self.vm = Interpreter(prog.encode(self.fds), self.helper, mem,
                                   map_value=self.map_value)
        if stack_fill is not None:
            vm.stack[:] = bytes([stack_fill]) * len(vm.stack)
        try:
            return vm.run(ctx_addr)
        finally:
            # each interpreter adds a fresh stack region at the same address
            mem.regions.remove(next(r for r in mem.regions if r[1] is vm.stack))

    # -- map views -------------------------------------------------------

    def value(self, mname, key=b"\0" * 8, signed=True):
        v = self.maps[mname].get(key)
        return None if v is None else int.from_bytes(v[:8], "little", signed=signed)

    def hist(self, mname):
        """{bucket index: count} of a keyless hist/lhist map."""
        return {int.from_bytes(k[-8:], "little"): int.from_bytes(v[:8], "little")
                for k, v in self.maps[mname].items()}

    def hist_sums(self, mname):
        """{bucket index: total of its values} (after each bucket's count)."""
        return {int.from_bytes(k[-8:], "little"): int.from_bytes(v[8:16], "little", signed=True)
                for k, v in self.maps[mname].items()}


def compile_src(src, params=()):
    an = Analyzer(parse(Source(src)), expander, params).run()
    return compile_program(an)


def kernel(src, params=(), **kw):
    return FakeKernel(compile_src(src, params), **kw)


def eval_tp(expr, signed=True, **ctx):
    """Evaluate an integer expression in a tracepoint program; its value is
    what lands in map @r."""
    k = kernel(f"tracepoint:t:p {{ @r = {expr}; }}")
    k.run(ctx=make_ctx(**ctx))
    return k.value("@r", signed=signed)


# ------------------------------------------------------------------ histograms

HIST_VALUES = sorted({v for e in range(63) for v in ((1 << e) - 1, 1 << e, (1 << e) + 1)}
                     | {0, 1, 2, 3, 5, 6, 7, 100, 1000, 12345, 2**63 - 1, 2**63 - 2,
                        -1, -2, -100, -2**63, 3 << 40, 5 << 30, 7 << 50})


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5])
def test_hist_index_matches_runtime(k):
    kern = kernel(f"tracepoint:t:p {{ @h = hist(args.a, {k}); }}")
    want = {}
    for v in HIST_VALUES:
        kern.run(ctx=make_ctx(a=v))
        i = hist_index(v, k)
        want[i] = want.get(i, 0) + 1
    assert kern.hist("@h") == want


@pytest.mark.parametrize("k, mask", [(0, 0xfffff), (0, 1), (0, 0), (0, 0xffffffff),
                                     (0, 2**40 - 1), (2, 0xff), (3, 0xffff), (1, 2**33 - 1)])
def test_hist_of_a_masked_value_matches_runtime(k, mask):
    # the mask bounds the value: no negative test, no steps above its top
    # bit (hist_index_code's bound); the buckets must not change
    kern = kernel(f"tracepoint:t:p {{ @h = hist(args.a & {mask}, {k}); }}")
    want = {}
    for v in HIST_VALUES:
        kern.run(ctx=make_ctx(a=v))
        i = hist_index(v & mask, k)
        want[i] = want.get(i, 0) + 1
    assert kern.hist("@h") == want


def test_hist_index_value_by_value():
    kern = kernel("tracepoint:t:p { @h = hist(args.a, 2); }")
    for v in (-5, 0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 1023, 1024, 2**63 - 1):
        kern.maps["@h"].clear()
        kern.run(ctx=make_ctx(a=v))
        assert kern.hist("@h") == {hist_index(v, 2): 1}, v


def test_hist_with_a_key_puts_the_bucket_after_the_key():
    kern = kernel("tracepoint:t:p { @h[args.b] = hist(args.a); }")
    kern.run(ctx=make_ctx(a=100, b=7))
    (key, val), = kern.maps["@h"].items()
    assert key == struct.pack("<qQ", 7, hist_index(100))
    assert val == struct.pack("<qq", 1, 100)  # the count, then the total


def test_hist_buckets_keep_the_total_of_their_values():
    kern = kernel("tracepoint:t:p { @h = hist(args.a); @l = lhist(args.a, 0, 100, 50); }")
    for v in (-3, 5, 6, 7, 60, 1000):
        kern.run(ctx=make_ctx(a=v))
    assert kern.hist_sums("@h") == {hist_index(-3): -3, hist_index(5): 18, hist_index(60): 60,
                                    hist_index(1000): 1000}
    assert kern.hist("@h")[hist_index(5)] == 3
    assert kern.hist_sums("@l") == {0: -3, 1: 18, 2: 60, 3: 1000}


LHIST_PARAMS = [(0, 100, 10), (-50, 50, 7), (1, 2, 1), (-1000, -10, 33), (0, 1000, 1)]


@pytest.mark.parametrize("lo, hi, step", LHIST_PARAMS)
def test_lhist_index_matches_runtime(lo, hi, step):
    kern = kernel(f"tracepoint:t:p {{ @h = lhist(args.a, {lo}, {hi}, {step}); }}")
    values = sorted({lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, lo + step, lo + step - 1,
                     (lo + hi) // 2, -2**63, 2**63 - 1, 0, -1, 1})
    want = {}
    for v in values:
        kern.run(ctx=make_ctx(a=v))
        i = lhist_index(v, lo, hi, step)
        want[i] = want.get(i, 0) + 1
    assert kern.hist("@h") == want


# ------------------------------------------------------------------ arithmetic

DIV_CASES = [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 5), (5, 0), (-5, 0), (2**63 - 1, -1),
             (-2**63, 1), (1, 3), (-1, 3), (100, 7), (-100, 7)]


@pytest.mark.parametrize("a, b", DIV_CASES)
def test_signed_division_truncates_toward_zero_and_by_zero_is_one(a, b):
    assert eval_tp("args.a / args.b", a=a, b=b) == (int_div(a, b) if b else 1)


@pytest.mark.parametrize("a, b", DIV_CASES)
def test_signed_modulo_takes_the_dividends_sign_and_mod_zero_is_one(a, b):
    want = 1 if b == 0 else a - int_div(a, b) * b
    assert eval_tp("args.a % args.b", a=a, b=b) == want


@pytest.mark.parametrize("a, b", [(7, 2), (2**64 - 1, 2), (2**63, 3), (5, 0), (0, 0)])
def test_unsigned_division_and_modulo(a, b):
    assert eval_tp("args.ua / args.ub", signed=False, ua=a, ub=b) == (a // b if b else 1)
    assert eval_tp("args.ua % args.ub", signed=False, ua=a, ub=b) == (a % b if b else 1)


def test_division_by_zero_sends_one_warning_record_located_at_the_operation():
    k = kernel("tracepoint:t:p { @q = args.a / args.b; @m = 7; @m %= args.b; }")
    k.run(ctx=make_ctx(a=6, b=3))
    assert (k.value("@q"), k.value("@m"), k.events) == (2, 1, [])
    k.run(ctx=make_ctx(a=6, b=0))
    assert (k.value("@q"), k.value("@m")) == (1, 1)
    kinds = [k.script.events[struct.unpack_from("<Q", e)[0]] for e in k.events]
    assert [ev.kind for ev in kinds] == ["warnf", "warnf"]
    assert kinds[0].fmt.startswith("Divide or modulo by 0 detected.")
    assert (kinds[0].span.col, kinds[1].span.col) == (23, 54)  # `@m %= X` at X


def test_a_literal_divisor_other_than_zero_has_no_check():
    k = kernel("tracepoint:t:p { @q = args.a / 1000; }")
    assert not any(ev.kind == "warnf" for ev in k.script.events.values())


def test_mixed_signedness_divides_unsigned():
    # int64 / uint64 is unsigned: -2 is 2**64 - 2
    assert eval_tp("args.a / args.ub", signed=False, a=-2, ub=2) == (2**64 - 2) // 2


@pytest.mark.parametrize("expr, want", [
    ("args.a + args.b", 5 + -3), ("args.a - args.b", 8), ("args.a * args.b", -15),
    ("args.a & args.b", 5 & -3), ("args.a | args.b", 5 | -3), ("args.a ^ args.b", 5 ^ -3),
    ("args.a << 3", 40), ("args.b >> 1", -2), ("args.ub >> 1", 2**63 - 2),
    ("-args.a", -5), ("~args.a", ~5), ("!args.a", 0), ("!0", 1), ("+args.b", -3),
    ("args.a << args.a", 5 << 5),
])
def test_integer_operators(expr, want):
    assert eval_tp(expr, a=5, b=-3, ub=2**64 - 3) == want


@pytest.mark.parametrize("field, raw, want", [
    ("i32", -1, -1), ("i32", -2**31, -2**31), ("i32", 2**31 - 1, 2**31 - 1),
    ("u16", 0xFFFF, 0xFFFF), ("i8", -128, -128), ("i8", 127, 127),
])
def test_narrow_field_loads_extend_by_signedness(field, raw, want):
    assert eval_tp(f"args.{field}", **{field: raw}) == want


@pytest.mark.parametrize("expr, want", [
    ("(int8)255", -1), ("(uint8)-1", 255), ("(int16)0x18000", -0x8000),
    ("(uint16)-1", 0xFFFF), ("(int32)0xFFFFFFFF", -1), ("(uint32)-1", 2**32 - 1),
    ("(int64)-1", -1), ("(uint64)-1", -1),
])
def test_casts_truncate_and_extend(expr, want):
    assert eval_tp(expr) == want


def test_cast_to_bool_is_zero_or_one():
    assert eval_tp("(bool)args.a", a=2) == 1
    assert eval_tp("(bool)args.a", a=256) == 1


@pytest.mark.parametrize("name, want", [(b"x", 1), (b"", 0)])
def test_cast_of_a_string_to_bool_is_whether_it_is_empty(name, want):
    assert eval_tp("(bool)str(args.name)", name=name) == want
    assert eval_tp('(bool)"" + 2 * (bool)"a"') == 2


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
@pytest.mark.parametrize("a, b", [(-1, 1), (1, -1), (3, 3), (-2**63, 2**63 - 1)])
def test_signed_comparisons(op, a, b):
    want = int(eval(f"{a} {op} {b}"))
    assert eval_tp(f"args.a {op} args.b", a=a, b=b) == want


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("a, b", [(2**64 - 1, 1), (1, 2**64 - 1), (2**63, 2**63 - 1)])
def test_unsigned_comparisons(op, a, b):
    want = int(eval(f"{a} {op} {b}"))
    assert eval_tp(f"args.ua {op} args.ub", ua=a, ub=b) == want


def test_ternary_values():
    assert eval_tp("args.a ? 10 : 20", a=1) == 10
    assert eval_tp("args.a ? 10 : 20", a=0) == 20
    assert eval_tp("args.a > 0 ? args.b : -args.b", a=-1, b=4) == -4


@pytest.mark.parametrize("a, want", [(0, 20), (7, 7), (-3, -3)])
def test_empty_middle_operand_gives_the_condition(a, want):
    assert eval_tp("args.a ?: 20", a=a) == want


@pytest.mark.parametrize("a, calls", [(0, 1), (5, 1)])
def test_empty_middle_operand_is_evaluated_once(a, calls):
    k = kernel("tracepoint:t:p { @r = (nsecs * args.a) ?: 3; }")
    k.run(ctx=make_ctx(a=a))
    assert k.calls.count("ktime_get_ns") == calls


# ------------------------------------------------------------------ logic


@pytest.mark.parametrize("a, b", [(0, 0), (0, 5), (7, 0), (7, 5), (-1, -1)])
def test_and_or_values(a, b):
    assert eval_tp("args.a && args.b", a=a, b=b) == int(bool(a and b))
    assert eval_tp("args.a || args.b", a=a, b=b) == int(bool(a or b))


@pytest.mark.parametrize("src, a, calls", [
    ("@r = args.a && nsecs;", 0, 0),
    ("@r = args.a && nsecs;", 1, 1),
    ("@r = args.a || nsecs;", 1, 0),
    ("@r = args.a || nsecs;", 0, 1),
    ("if (args.a > 0 && nsecs > 0) { @r = 1; } else { @r = 2; }", -1, 0),
    ("@r = (args.a || nsecs) && (args.a && nsecs);", 0, 1),
])
def test_short_circuit_skips_the_right_operand(src, a, calls):
    k = kernel(f"tracepoint:t:p {{ {src} }}")
    k.run(ctx=make_ctx(a=a))
    assert k.calls.count("ktime_get_ns") == calls


def test_predicate_filters():
    k = kernel("tracepoint:t:p /args.a > 10/ { @c = count(); }")
    for a in (1, 11, 12, 10, 100):
        k.run(ctx=make_ctx(a=a))
    assert k.value("@c") == 3


# ------------------------------------------------------------------ strings


@pytest.mark.parametrize("comm, lit, want", [
    (b"bash", "bash", 1), (b"bash", "bas", 0), (b"bas", "bash", 0), (b"", "", 1),
    (b"", "a", 0), (b"a", "", 0), (b"abcdefghijklmno", "abcdefghijklmno", 1),
    (b"abcdefghijklmno", "abcdefghijklmnop", 0), (b"bash", "bxsh", 0),
])
def test_string_equality_byte_loop(comm, lit, want):
    assert eval_tp(f'args.comm == "{lit}"', comm=comm) == want
    assert eval_tp(f'args.comm != "{lit}"', comm=comm) == 1 - want
    k = kernel(f'tracepoint:t:p {{ @r = comm == "{lit}"; }}', comm=comm)
    k.run(ctx=make_ctx())
    assert k.value("@r") == want


def test_string_equality_between_two_fields():
    assert eval_tp("args.comm == args.name", comm=b"abc", name=b"abc") == 1
    assert eval_tp("args.comm == args.name", comm=b"abc", name=b"abd") == 0
    assert eval_tp("args.comm == args.name", comm=b"abc", name=b"abcd") == 0


def test_string_equality_with_an_unterminated_char_array():
    assert eval_tp('args.text == "abcdefgh"', text=b"abcde") == 0


def test_char_array_field_copy_into_map_value():
    k = kernel("tracepoint:t:p { @s = args.comm; }")
    k.run(ctx=make_ctx(comm=b"systemd-journal"))
    assert bytes(k.maps["@s"][b"\0" * 8]) == b"systemd-journal\0"


def test_data_loc_string_read():
    k = kernel("tracepoint:t:p { @s = args.name; }")
    k.run(ctx=make_ctx(name=b"/etc/passwd"))
    assert bytes(k.maps["@s"][b"\0" * 8]) == b"/etc/passwd".ljust(1024, b"\0")


def test_string_map_key_and_literal_padding():
    k = kernel('tracepoint:t:p { @[args.comm, "ab"] = 1; @["x", "abcdef"] = 2; }')
    k.run(ctx=make_ctx(comm=b"cat"))
    keys = sorted(k.maps["@"])
    assert keys == sorted([b"cat".ljust(16, b"\0") + b"ab".ljust(8, b"\0"),
                           b"x".ljust(16, b"\0") + b"abcdef".ljust(8, b"\0")])


def test_a_key_read_from_a_string_map_value_is_the_same_key_on_every_event():
    # @n's value is a short string; as the key of @b (+= reads, then writes)
    # the bytes past it must be zeroes, not what the stack held
    k = kernel('BEGIN { @n[1] = "ab"; } tracepoint:t:p { @b[@n[1]] += 1; @c[1, @n[1]] = 1; }')
    k.run(0)
    for fill in (0xAA, 0x55):
        k.run(1, ctx=make_ctx(), stack_fill=fill)
    assert list(k.maps["@b"].values()) == [bytearray((2).to_bytes(8, "little"))]
    assert len(k.maps["@c"]) == 1
    assert all(set(key[2:]) <= {0} for key in k.maps["@b"])


def test_str_with_length_of_a_string_variable_truncates():
    k = kernel('BEGIN { $s = "hello"; @s = str($s, 2); }')
    k.run()
    assert bytes(k.maps["@s"][b"\0" * 8])[:3] == b"he\0"


def test_str_with_length_of_a_char_array_field_truncates():
    k = kernel("tracepoint:t:p { @s = str(args.comm, 2); }")
    k.run(ctx=make_ctx(comm=b"hello"))
    assert bytes(k.maps["@s"][b"\0" * 8])[:3] == b"he\0"


def test_str_with_length_of_a_literal_truncates():
    k = kernel('BEGIN { @s = str("hello", 2); }')
    k.run()
    assert bytes(k.maps["@s"][b"\0" * 8]) == b"he\0".ljust(8, b"\0")


# ------------------------------------------------------------------ maps and aggregates


def test_count_sum_min_max_avg_across_events():
    k = kernel("tracepoint:t:p { @c = count(); @s = sum(args.a); @mn = min(args.a); "
               "@mx = max(args.a); @av = avg(args.a); @st = stats(args.a); }")
    vals = [5, -3, 10, 0, 7]
    for v in vals:
        k.run(ctx=make_ctx(a=v))
    z = b"\0" * 8
    assert k.value("@c") == 5
    assert k.value("@s") == sum(vals)
    assert struct.unpack("<qQ", k.maps["@mn"][z]) == (-3, 1)
    assert struct.unpack("<qQ", k.maps["@mx"][z]) == (10, 1)
    assert struct.unpack("<Qq", k.maps["@av"][z]) == (5, sum(vals))
    assert struct.unpack("<Qq", k.maps["@st"][z]) == (5, sum(vals))


def test_unsigned_min_max_compare_unsigned():
    k = kernel("tracepoint:t:p { @mn = min(args.ua); @mx = max(args.ua); }")
    for v in (5, 2**63 + 1, 3):
        k.run(ctx=make_ctx(ua=v))
    z = b"\0" * 8
    assert struct.unpack("<QQ", k.maps["@mn"][z]) == (3, 1)
    assert struct.unpack("<QQ", k.maps["@mx"][z]) == (2**63 + 1, 1)


def test_reading_avg_map_divides_signed():
    k = kernel("tracepoint:t:p { @av = avg(args.a); @r = @av; }")
    for v in (-10, -5):
        k.run(ctx=make_ctx(a=v))
    # after the second event the read sees total -15 over 2 events
    assert k.value("@r") == int_div(-15, 2)


def test_missing_map_entry_reads_as_zero_and_increments():
    k = kernel("tracepoint:t:p { @r[args.a] = @r[args.a] + 1; @i[args.a]++; @j += args.b; }")
    for a in (1, 2, 1, 1):
        k.run(ctx=make_ctx(a=a, b=10))
    assert k.value("@r", struct.pack("<q", 1)) == 3
    assert k.value("@r", struct.pack("<q", 2)) == 1
    assert k.value("@i", struct.pack("<q", 1)) == 3
    assert k.value("@j") == 40


def test_post_and_pre_increment_values():
    k = kernel("BEGIN { $x = 5; @a = $x++; @b = ++$x; @c = $x--; @d = $x; "
               "@m = 10; @e = @m++; @f = ++@m; }")
    k.run()
    assert [k.value(m) for m in ("@a", "@b", "@c", "@d", "@e", "@f", "@m")] == \
        [5, 7, 7, 6, 10, 12, 12]


@pytest.mark.parametrize("expr, want", [
    ("{ $n += 1; $n } + { $n += 1; $n }", 2 + 3),
    ("$n + { $n += 1; $n }", 1 + 2),
    ("++$n + ++$n", 2 + 3),
    ("$n + $n++", 1 + 1),
    ("$n++ + $n", 1 + 2),
    ("{ $n += 1; $n } * 10 - { $n *= 5; $n }", 20 - 10),
    ("{ $n = 7; $n } > { $n = 3; $n }", 1),
])
def test_operands_are_evaluated_left_to_right(expr, want):
    # a variable's value is its register: an assignment in the right operand
    # must not reach the left one (bpftrace 0.26 gives 5 for the first)
    k = kernel(f"BEGIN {{ $n = 1; @r = {expr}; }}")
    k.run()
    assert k.value("@r") == want


def test_compound_assignment_reads_the_variable_before_its_operand():
    k = kernel("BEGIN { $n = 1; $n += { $n = 10; 5 }; @r = $n; }")
    k.run()
    assert k.value("@r") == 6


def test_printf_arguments_are_evaluated_left_to_right():
    k = kernel('BEGIN { $n = 1; printf("%d %d\\n", $n, { $n += 1; $n }); }')
    k.run()
    (rec,) = k.events
    assert rec == struct.pack("<Qqq", 1, 1, 2)


def test_no_copy_of_a_variable_when_the_right_operand_assigns_nothing():
    def size(src):
        return len(compile_src(src).programs[0].program.insns)
    plain = size("BEGIN { $n = 1; $m = 2; @r = $n + ($m + 1); }")
    assert size("BEGIN { $n = 1; $m = 2; @r = $n + { $m + 1 }; }") == plain


def test_delete_removes_the_entry():
    k = kernel("tracepoint:t:p { @m[args.a] = 1; delete(@m[args.b]); }")
    k.run(ctx=make_ctx(a=1, b=2))
    k.run(ctx=make_ctx(a=2, b=1))
    assert list(k.maps["@m"]) == [struct.pack("<q", 2)]


def test_delete_says_whether_it_deleted():
    k = kernel("tracepoint:t:p { @m[args.a] = 1; @r = delete(@m, args.b) + 2 * delete(@m[args.a]); }")
    k.run(ctx=make_ctx(a=1, b=1))
    assert k.value("@r") == 1  # the first delete took it, the second found nothing
    k.run(ctx=make_ctx(a=1, b=2))
    assert k.value("@r") == 2


def test_a_tuple_is_the_keys_of_a_multi_key_map():
    k = kernel("tracepoint:t:p { @m[args.a, args.b] = 7; $t = (args.a, args.b); "
               "@r = has_key(@m, (args.a, args.b)) + has_key(@m, $t) + @m[$t] "
               "+ 10 * delete(@m, $t) + 100 * has_key(@m, args.a, args.b); }")
    k.run(ctx=make_ctx(a=4, b=-5))
    assert k.value("@r") == 1 + 1 + 7 + 10
    assert not k.maps["@m"]


def test_tuple_value_in_a_map():
    k = kernel('tracepoint:t:p { @t = (args.a, args.comm, args.i32); }')
    k.run(ctx=make_ctx(a=-9, comm=b"zsh", i32=-2))
    v = bytes(k.maps["@t"][b"\0" * 8])
    assert v == struct.pack("<q", -9) + b"zsh".ljust(16, b"\0") + struct.pack("<q", -2)


def test_scratch_variables_loops_and_unroll():
    k = kernel("BEGIN { $i = 0; $s = 0; while ($i < 10) { $i++; if ($i == 3) { continue; } "
               "if ($i == 8) { break; } $s += $i; } @s = $s; $u = 0; unroll(4) { $u += 2; } "
               "@u = $u; }")
    k.run()
    assert k.value("@s") == 1 + 2 + 4 + 5 + 6 + 7
    assert k.value("@u") == 8


def test_if_values_and_ternaries_run_only_the_branch_taken():
    k = kernel("BEGIN { $a = 2; $b = 1; $c = 0; "
               "@v = if $a > 1 { 10 } else if $a { 20 } else { 30 }; "
               "@v += if $b > 1 { 10 } else if $b { 20 } else { 30 }; "
               "@v += if $c > 1 { 10 } else if $c { 20 } else { 30 }; "
               "@n = 0; if $a { @n += 1 } else { @n += 100 } if $c { @n += 1 } else { @n += 100 } "
               "$c ? printf(\"x\") : printf(\"y\"); "
               "@w = if $c { let $t = 5; $t } else { 6 }; }")
    k.run()
    assert k.value("@v") == 60
    assert k.value("@n") == 101
    assert k.value("@w") == 6
    assert len(k.events) == 1  # the one printf taken


# ------------------------------------------------------------------ events


def test_printf_record_layout():
    k = kernel('tracepoint:t:p { printf("%d %s %d\\n", args.a, args.comm, pid); }', pid=77)
    k.run(ctx=make_ctx(a=-4, comm=b"vim"))
    (rec,) = k.events
    ev = k.script.events[1]
    assert ev.kind == "printf" and ev.fmt == "%d %s %d\n"
    assert rec == struct.pack("<Qq", 1, -4) + b"vim".ljust(16, b"\0") + struct.pack("<Q", 77)


def test_printf_string_literal_argument_and_builtins():
    k = kernel('BEGIN { printf("%s %s %d\\n", "hi", probe, tid); }', tid=99)
    k.run()
    (rec,) = k.events
    assert rec == struct.pack("<Q", 1) + b"hi".ljust(8, b"\0") + b"BEGIN".ljust(8, b"\0") \
        + struct.pack("<Q", 99)


def test_exit_sets_the_exit_slot_and_stops_the_probe():
    k = kernel("BEGIN { exit(3); @after = 1; }")
    k.run()
    assert k.events == [struct.pack("<Q", 1)]  # only wakes user space
    assert bytes(k.maps[".exit"][b"\0" * 4]) == struct.pack("<Qq", 1, 3)
    assert k.maps["@after"] == {}


def test_full_ring_buffer_counts_a_lost_event():
    # a record reserved (a string in it) and one output whole (integers)
    k = kernel('BEGIN { printf("x %s\\n", "s"); printf("y %d\\n", 1); }')
    real = k.helper

    def full(hid, args, mem):
        if ID[hid] == "ringbuf_reserve":
            k.calls.append("ringbuf_reserve")
            return 0
        if ID[hid] == "ringbuf_output":
            k.calls.append("ringbuf_output")
            return -11  # -EAGAIN: no room
        return real(hid, args, mem)
    k.helper = full
    k.run()
    assert k.events == []
    assert k.calls.count("ringbuf_reserve") == 1 and k.calls.count("ringbuf_output") == 1
    assert lost(k, 0) == 2


# ------------------------------------------------------------------ tuples


def test_tuple_literal_element_access():
    k = kernel('tracepoint:t:p { @r = (args.a, 5).1 + (args.a, 5).0; }')
    k.run(ctx=make_ctx(a=3))
    assert k.value("@r") == 8


@pytest.mark.parametrize("src", [
    'BEGIN { $t = (1, "ab"); @r = $t.1; }',
    'BEGIN { $t = (1, "ab"); printf("%s\\n", $t.1); }',
    'BEGIN { @r = (1, "ab").1; }',
])
def test_string_element_of_a_tuple(src):
    k = kernel(src)
    k.run()
    got = bytes(k.maps["@r"][b"\0" * 8]) if "@r" in k.maps else k.events[0][8:]
    assert got[:3] == b"ab\0"


@pytest.mark.parametrize("src, want", [
    ('BEGIN { @t[1] = (7, "ab"); $v = @t[1]; @r = $v.0; }', 7),
    ('BEGIN { @t = (7, 2); @r = @t.0; }', 7),
    ('BEGIN { $t = 1 ? (7, "a") : (2, "b"); @r = $t.0; }', 7),
    ('BEGIN { $t = ((7, 2), 3); $u = $t.0; @r = $u.0; }', 7),
])
def test_tuple_values_from_maps_ternaries_and_nesting(src, want):
    k = kernel(src)
    k.run()
    assert k.value("@r") == want


# ------------------------------------------------------------------ byte functions

@pytest.mark.parametrize("comm, needle, want", [
    (b"bash", "as", 1), (b"bash", "bash", 0), (b"bash", "h", 3), (b"bash", "sh!", -1),
    (b"bash", "", 0), (b"", "a", -1), (b"abab", "ba", 1),
    (b"0123456789abcde", "cde", 12),   # up to the last byte of the field
])
def test_unrolled_strstr_without_the_kernel_function(monkeypatch, comm, needle, want):
    monkeypatch.setattr(Analyzer, "kernel_function", lambda self, name: None)
    assert eval_tp(f'strstr(args.comm, "{needle}")', comm=comm) == want
    assert eval_tp(f'strcontains(args.comm, str(args.text))', comm=comm,
                   text=needle.encode()) == (want >= 0)
    assert eval_tp(f'strcontains(args.comm, "{needle}")', comm=comm) == (want >= 0)


@pytest.mark.parametrize("expr, want", [
    ("bswap((uint16)0x1234)", 0x3412), ("bswap((uint32)0x12345678)", 0x78563412),
    ("bswap(0x0102030405060708)", 0x0807060504030201), ("bswap((uint8)0x1ff)", 0xFF),
    ("bswap(args.u16)", 0x0201),
])
def test_bswap(expr, want):
    assert eval_tp(expr, signed=False, u16=0x0102) == want


# ------------------------------------------------------------------ for ($i : A..B)

def test_range_with_a_map_bound_runs_through_bpf_loop():
    k = kernel("BEGIN { @n = 5; $s = 0; for ($i : 0..@n) { $s += $i; @last = $i; } @s = $s; }")
    k.run()
    assert k.value("@s") == 0 + 1 + 2 + 3 + 4 and k.value("@last") == 4
    assert k.calls.count("loop") == 1


def test_range_through_bpf_loop_start_break_continue_and_empty():
    k = kernel("BEGIN { $a = -3; $b = 4; $s = 0; for ($i : $a..$b) { if ($i == 0) { continue; } "
               "if ($i == 3) { break; } $s += $i * 10; } @s = $s; "
               "$z = 0; for ($j : $b..$a) { $z++; } @z = $z + 7; }")
    k.run()
    assert k.value("@s") == (-3 - 2 - 1 + 1 + 2) * 10
    assert k.value("@z") == 7      # an end before the start runs no iteration
    assert k.calls.count("loop") == 2


def test_range_end_is_read_once_and_exit_ends_the_probe():
    k = kernel("BEGIN { @a = 3; @c = 0; for ($i : 0..@a) { @a += 1; @c += 1; } "
               "for ($i : 0..@a) { exit(); } @after = 1; }")
    k.run()
    assert k.value("@c") == 3 and k.value("@a") == 6
    assert k.value("@after") is None and k.value(".exit", b"\0" * 4) == 1


def test_range_of_literal_bounds_stays_inline():
    k = kernel("BEGIN { $s = 0; for ($i : 1..(2*4)) { $s += $i; } @s = $s; }")
    k.run()
    assert k.value("@s") == sum(range(1, 8))
    assert "loop" not in k.calls


# ------------------------------------------------------------------ for ($kv : @map)

def test_for_map_shares_integers_with_the_probe():
    k = kernel("BEGIN { @m[1] = 10; @m[2] = 20; @m[3] = 30; $n = 0; $s = 0; "
               "for ($kv : @m) { $n++; $s += $kv.0 * $kv.1; } @n = $n; @s = $s; }")
    k.run()
    assert k.value("@n") == 3
    assert k.value("@s") == 1 * 10 + 2 * 20 + 3 * 30


def test_for_map_break_and_continue():
    k = kernel("BEGIN { @m[1] = 1; @m[2] = 2; @m[3] = 3; @m[4] = 4; $s = 0; "
               "for ($kv : @m) { if ($kv.0 == 2) { continue; } if ($kv.0 == 4) { break; } "
               "$s += $kv.1; } @s = $s; }")
    k.run()
    assert k.value("@s") == 1 + 3
    assert k.calls.count("for_each_map_elem") == 1


def test_for_map_body_variable_is_not_the_one_after_the_loop():
    k = kernel("BEGIN { @m[1] = 5; @m[2] = 7; "
               "for ($kv : @m) { $t = $kv.1 * 2; @in[$kv.0] = $t; } $t = 99; @after = $t; }")
    k.run()
    assert k.value("@in", struct.pack("<Q", 1)) == 10
    assert k.value("@in", struct.pack("<Q", 2)) == 14
    assert k.value("@after") == 99


def test_for_map_strings_shared_in_place_and_multi_keys():
    k = kernel('BEGIN { @m[1, "a"] = "x"; @m[2, "b"] = "y"; $w = "start"; '
               'for ($kv : @m) { $w = $kv.1; @k[$kv.0.0] = $kv.0.1; } @w = $w; }')
    k.run()
    assert bytes(k.maps["@w"][b"\0" * 8]).rstrip(b"\0") == b"y"
    assert bytes(k.maps["@k"][struct.pack("<Q", 1)]).rstrip(b"\0") == b"a"
    assert bytes(k.maps["@k"][struct.pack("<Q", 2)]).rstrip(b"\0") == b"b"


def test_for_map_nested_sees_outer_pair_and_probe_variables():
    k = kernel("BEGIN { @a[1] = 2; @a[3] = 4; @b[10] = 1; @b[20] = 2; $acc = 0; "
               "for ($x : @a) { for ($y : @b) { $acc += $x.1 * $y.0; } } @acc = $acc; }")
    k.run()
    assert k.value("@acc") == (2 + 4) * (10 + 20)


def test_for_map_user_function_return_stays_in_the_call():
    from bpfscope.lang.userfuncs import inline_functions
    src = ("fn dbl($x: int64): int64 { if ($x > 10) { return 0; } return $x * 2; } "
               "BEGIN { @m[1] = 5; @m[2] = 70; @m[3] = 6; $s = 0; "
               "for ($kv : @m) { $s += dbl($kv.1); } @s = $s; }")
    k = FakeKernel(compile_program(Analyzer(inline_functions(parse(Source(src))), expander).run()))
    k.run()
    assert k.value("@s") == 10 + 0 + 12


def test_for_map_exit_in_the_body_ends_the_probe():
    k = kernel("BEGIN { @m[1] = 1; @m[2] = 2; @n[7] = 1; $seen = 0; "
               "for ($kv : @m) { for ($x : @n) { $seen++; exit(); } @outer = 1; } "
               "@after = $seen; }")
    k.run()
    assert k.value("@outer") is None and k.value("@after") is None
    assert k.value(".exit", b"\0" * 4) == 1   # exit requested
    assert k.calls.count("for_each_map_elem") == 2   # the outer loop's and one inner


def test_str_with_a_length_keeps_it_in_a_wider_map_value():
    # @m holds string[16] (the second str()), yet str(comm, 2) stays short
    k = kernel('tracepoint:t:p { @m[1] = str(args.comm, 2); @m[2] = str(args.comm); }')
    k.run(ctx=make_ctx(comm=b"hello"))
    key = (1).to_bytes(8, "little")
    assert bytes(k.maps["@m"][key])[:4] == b"he\0\0"


# ------------------------------------------------------------------ stacks and drops

def lost(k, i):
    """Counter ``i`` of the LOST array's one element."""
    v = k.maps[".lost"].get(b"\0" * 4) or bytes(8 * (i + 1))
    return int.from_bytes(v[8 * i:8 * i + 8], "little")


def drops(k, kind):
    """The count of the LOST slots of the drop sites of ``kind``."""
    return [lost(k, i) for i, site in enumerate(k.script.drop_sites, 1) if site.kind == kind]


def test_a_stack_keeps_at_most_its_limit_of_frames_and_their_count():
    k = kernel("tracepoint:t:p { @[kstack(3)] = count(); @x = @[kstack(3)]; }")
    for top in (0x10, 0x11):  # differ only below frame 3: one key
        k.stack = [0xA, 0xB, 0xC, top, 0xE]
        k.run(ctx=make_ctx())
    (key, val), = k.maps["@"].items()
    assert key == struct.pack("<4Q", 3, 0xA, 0xB, 0xC)
    assert int.from_bytes(val, "little") == 2
    assert set(drops(k, "stack")) == {0}  # the update's walk and the read's


def test_a_user_stack_has_its_pid_after_the_count():
    k = kernel("tracepoint:t:p { @[ustack(2)] = count(); @x = @[ustack(2)]; }", pid=77)
    k.stack = [0x401000]
    k.run(ctx=make_ctx())
    (key, _), = k.maps["@"].items()
    assert key == struct.pack("<4Q", 1, 77, 0x401000, 0)


BID = bytes(range(20))


def test_a_build_id_stack_asks_for_build_ids_and_holds_32_bytes_a_frame():
    k = kernel("tracepoint:t:p { @[ustack(build_id, 2)] = count(); @x = @[ustack(build_id, 2)]; "
               "@n = len(ustack(build_id)); }", pid=77)
    k.stack = [0x1149, 0x1188, 0x2724a]
    k.run(ctx=make_ctx())
    (key, _), = k.maps["@"].items()
    assert key == struct.pack("<2Q", 2, 77) + struct.pack("<i20sQ", 1, BID, 0x1149) + \
        struct.pack("<i20sQ", 1, BID, 0x1188)
    assert k.value("@n") == 3


def test_a_failed_stack_walk_is_an_empty_stack_counted_at_its_place():
    k = kernel("tracepoint:t:p { @[kstack] = count(); @n = count(); @x = @[kstack]; }")
    k.stack = -14  # -EFAULT: no callchain buffer
    k.run(ctx=make_ctx())
    k.stack = [0xA]
    k.run(ctx=make_ctx())
    keys = sorted(k.maps["@"])
    assert keys[0] == bytes(8 + 8 * 127) and keys[1][:16] == struct.pack("<2Q", 1, 0xA)
    assert {s.name for s in k.script.drop_sites if s.kind == "stack"} == {"kstack"}
    assert drops(k, "stack") == [1, 1]  # the update's walk and the read's


def test_str_counts_the_strings_it_cuts_at_max_strlen_only():
    k = kernel("config = { max_strlen = 8 } tracepoint:t:p "
               "{ @[str(args.ua)] = count(); @s = str(args.ua, 4); }")
    assert len(drops(k, "strcut")) == 1  # not str(p, 4)
    for text, cut in ((b"1234567", 0), (b"12345678", 1), (b"123456789abc", 2), (b"", 2)):
        k.run(ctx=make_ctx(ua=k._alloc(bytearray(text + b"\0"))))
        assert drops(k, "strcut") == [cut], text


@pytest.mark.parametrize("a, want", [(0, ord("x")), (2, ord("z")), (3, 0), (40, 0), (-1, 0)])
def test_string_indexed_at_run_time_is_zero_past_its_end(a, want):
    assert eval_tp('{ let $s = "xyz"; $s[args.a] }', a=a) == want


def test_string_bytes_are_signed_chars():
    assert eval_tp('{ let $s = str(args.comm); $s[1] }', comm=b"a\xffb") == -1
    assert eval_tp("str(args.comm)[2]", comm=b"a\xffb") == ord("b")


def test_a_declared_variable_reads_zero_before_its_assignment():
    assert eval_tp("{ let $v; let $w = $v; $v = args.a; $w * 100 + $v }", a=5) == 5


def test_address_of_a_string_variable_points_at_its_bytes():
    k = kernel('BEGIN { $s = "hey"; $p = &$s; @c = *($p + 1); @d = *$p; '
               '$t = (7, "ab", 9); $q = &$t[2]; @e = *$q; $r = (x=3, y=4); @f = *(&$r.y); }')
    k.run()
    assert (k.value("@c"), k.value("@d")) == (ord("e"), ord("h"))
    assert (k.value("@e"), k.value("@f")) == (9, 4)


def test_with_k_lookups_and_deletes_that_find_nothing_are_counted_per_place():
    src = ('tracepoint:t:p { @m[1] = 1; $a = @m[2]; $b = @m[1]; delete(@m, 3); '
           '$d = delete(@m, 4); @n++; @o += 1; @s[1] = "x"; $t = @s[2]; }')
    an = Analyzer(parse(Source(src)), expander, (), {"helper_check": 1}).run()
    k = FakeKernel(compile_program(an))
    for _ in range(2):
        k.run(ctx=make_ctx())
    assert [(s.kind, s.name) for s in k.script.drop_sites if s.kind != "full"] == [
        ("lookup", "@m"), ("lookup", "@m"), ("delete", "@m"), ("lookup", "@s")]
    # @m[2] missed twice, @m[1] found; delete(@m, 3) twice (delete(@m, 4)'s
    # result is used: no warning); @n++ and @o += 1 are no lookups to check
    assert drops(k, "lookup") == [2, 0, 2] and drops(k, "delete") == [2]
    # without -k nothing is counted
    assert [s for s in kernel(src).script.drop_sites if s.kind != "full"] == []


def test_buffers_compare_by_their_counts_and_bytes():
    k = kernel('BEGIN { $a = "hello"; $b = "hellp"; @e4 = buf($a, 4) == buf($b, 4); '
               '@e5 = buf($a, 5) == buf($b, 5); @n5 = buf($a, 5) != buf($b, 5); '
               '@len = buf($a, 4) == buf($a, 5); $x = buf("hi", 2); @self = $x == $x; }')
    k.run()
    assert [k.value(m) for m in ("@e4", "@e5", "@n5", "@len", "@self")] == [1, 0, 1, 0, 1]


def test_ranges_through_bpf_loop_nest_with_each_other_and_for_map():
    k = kernel("BEGIN { @n = 3; @m[10] = 1; @m[20] = 2; $acc = 0; "
               "for ($i : 0..@n) { for ($j : $i..@n) { $acc += 1; } "
               "for ($kv : @m) { for ($x : 0..$kv.1) { $acc += $kv.0; } } } @acc = $acc; }")
    k.run()
    # (3 + 2 + 1) inner pairs, then per outer step 10*1 + 20*2
    assert k.value("@acc") == 6 + 3 * (10 + 40)
    assert k.calls.count("loop") == 1 + 3 + 3 * 2
