"""Type rules of the byte and string functions (sema.functions): result
types and the located errors for wrong arguments, without a kernel."""

import pytest

from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ArgField, ExpandedProbe

ARGS = [
    ArgField("filename", 16, 8, False, "pointer", "const char *", user=True),
    ArgField("comm", 24, 16, False, "char_array", "char[16]", 16),
    ArgField("addr", 40, 16, False, "array", "__u8[16]", 16),
    ArgField("addr4", 56, 4, False, "array", "__u8[4]", 4),
    ArgField("mac", 60, 6, False, "array", "__u8[6]", 6),
    ArgField("n", 72, 4, True, "int", "int"),
]


def expander(ap):
    p = ap.parts
    if p[0] in ("BEGIN", "END"):
        return [ExpandedProbe(p[0], p[0], (), None, ap.span)]
    if p[0] == "uprobe":
        return [ExpandedProbe("uprobe", "uprobe:/bin/x:f", (), None, ap.span, func="f",
                              context="regs")]
    return [ExpandedProbe("tracepoint", f"tracepoint:{p[1]}:{p[2]}", (), ARGS, ap.span)]


def analyze(src, config=None):
    return Analyzer(parse(Source(src)), expander, (), config).run()


def ty(expr, probe="tracepoint:a:b", config=None):
    an = analyze(f"{probe} {{ {expr}; }}", config)
    return an.program.probes[0].body[-1].expr.type


def err(src):
    """(message, (line, col, end_col)) of the error ``src`` raises."""
    with pytest.raises(SemanticError) as ei:
        analyze(src)
    sp = ei.value.span
    return ei.value.message, (sp.line, sp.col, sp.end_col)


@pytest.mark.parametrize("expr, want", [
    ('buf(args.filename, 8)', T.BufferType(8)),
    ('buf(args.addr)', T.BufferType(16)),           # an array knows its size
    ('buf(args.addr, 4)', T.BufferType(4)),
    ('buf(args.addr, 99)', T.BufferType(16)),       # no more than the array
    ('buf(args.comm)', T.BufferType(16)),           # a char array is a string
    ('buf("hello", 3)', T.BufferType(3)),
    ('buf(args.filename, args.n)', T.BufferType(1024)),  # bounded at run time
    ('buf(args.filename, 5000)', T.BufferType(1024)),
])
def test_buf_types(expr, want):
    assert ty(expr) == want


def test_buf_is_limited_by_max_strlen():
    assert ty('buf(args.filename, 100)', config={"max_strlen": 64}) == T.BufferType(64)


@pytest.mark.parametrize("src, msg, where", [
    ('tracepoint:a:b { buf(args.filename); }',
     "buf() needs a length when reading from a pointer", (1, 18, 36)),
    ('tracepoint:a:b { buf(args.filename, 0); }', "buf() length must be positive", (1, 37, 38)),
    ('tracepoint:a:b { buf(args.filename, "x"); }',
     "buf() expects an integer for argument 2 ('string[2]' provided)", (1, 37, 40)),
    ('tracepoint:a:b { buf((1, 2), 4); }',
     "buf() expects a pointer, an array or a string ('(int64,int64)' provided)", (1, 22, 28)),
    ('tracepoint:a:b { buf(); }', "buf() requires between 1 and 2 arguments (0 provided)",
     (1, 18, 23)),
])
def test_buf_errors(src, msg, where):
    assert err(src) == (msg, where)


def test_buffers_of_different_sizes_share_a_map():
    an = analyze('tracepoint:a:b { @b = buf(args.filename, 4); @b = buf(args.filename, 8); }')
    assert an.maps["@b"].value == T.BufferType(8)


@pytest.mark.parametrize("expr, want", [
    ('strstr(str(args.filename), "x")', T.INT64),
    ('strstr(args.comm, str(args.filename))', T.INT64),
    ('strcontains(args.comm, str(args.filename))', T.BOOL),   # a computed needle
    ('str_concat(args.comm, "abc")', T.StringType(19)),
    ('str_concat(str(args.filename), "abc")', T.StringType(1024)),  # max_strlen
    ('signal_name(args.n)', T.SymbolicInt(what="signal_name")),
    ('bswap(args.n)', T.IntType(32, False)),
    ('bswap((uint16)1)', T.IntType(16, False)),
    ('bswap((uint8)1)', T.IntType(8, False)),
    ('bswap(1)', T.UINT64),
    ('len(ustack)', T.INT64),
    ('len(kstack(3))', T.INT64),
])
def test_string_and_integer_function_types(expr, want):
    assert ty(expr) == want


def test_len_of_a_map_with_keys():
    an = analyze('BEGIN { @m[1] = 1; @n = len(@m); }')
    assert an.maps["@n"].value == T.INT64


@pytest.mark.parametrize("src, msg, where", [
    ('BEGIN { strstr("a", 1); }',
     "strstr() expects a string for argument 2 ('int64' provided)", (1, 21, 22)),
    ('BEGIN { strcontains(1, "a"); }',
     "strcontains() expects a string for argument 1 ('int64' provided)", (1, 21, 22)),
    ('BEGIN { str_concat("a"); }', "str_concat() requires 2 arguments (1 provided)", (1, 9, 24)),
    ('BEGIN { bswap("a"); }',
     "bswap() expects an integer for argument 1 ('string[2]' provided)", (1, 15, 18)),
    ('BEGIN { signal_name(); }', "signal_name() requires 1 argument (0 provided)", (1, 9, 22)),
    ('BEGIN { @s = 1; len(@s); }',
     "call to len() expects a map with explicit keys (non-scalar map)", (1, 21, 23)),
    ('BEGIN { len(1); }', "call to len() expects a map, ustack, or kstack", (1, 13, 14)),
    ('BEGIN { $s = kstack; len($s); }',
     "len() of a stack needs kstack or ustack itself as its argument (a stack held in "
     "a variable or map is not supported yet)", (1, 26, 28)),
])
def test_string_and_integer_function_errors(src, msg, where):
    assert err(src) == (msg, where)


@pytest.mark.parametrize("expr, want", [
    ('args.addr', T.ArrayType(T.UINT8, 16)),          # a tracepoint array field
    ('pton("127.0.0.1")', T.ArrayType(T.UINT8, 4)),
    ('pton("fe80::1")', T.ArrayType(T.UINT8, 16)),
    ('args.addr4 == pton("10.0.0.1")', T.BOOL),
    ('pton("::1") != args.addr', T.BOOL),
    ('ntop(pton("::1"))', T.InetType()),
    ('ntop(args.addr4)', T.InetType()),
    ('macaddr(args.mac)', T.MacAddrType()),
    ('macaddr(args.filename)', T.MacAddrType()),
    ('macaddr(args.comm)', T.MacAddrType()),
])
def test_address_function_types(expr, want):
    assert ty(expr) == want


@pytest.mark.parametrize("src, msg, where", [
    ('BEGIN { pton("1.2.3"); }', "pton() expects an IPv4 or IPv6 address, got '1.2.3'",
     (1, 14, 21)),
    ('BEGIN { $s = "1.2.3.4"; pton($s); }', "pton() expects a string literal", (1, 30, 32)),
    ('tracepoint:a:b { args.addr4 == args.addr; }',
     "Invalid operands for '==': 'uint8[4]' and 'uint8[16]'", (1, 18, 41)),
    ('tracepoint:a:b { args.addr4 < pton("1.2.3.4"); }',
     "Invalid operands for '<': 'uint8[4]' and 'uint8[4]'", (1, 18, 46)),
    ('tracepoint:a:b { macaddr(args.addr4); }',
     "macaddr() expects 6 bytes ('uint8[4]' provided)", (1, 26, 36)),
    ('tracepoint:a:b { ntop(args.mac); }', "ntop() expects a 4 or 16 byte address", (1, 23, 31)),
])
def test_address_function_errors(src, msg, where):
    assert err(src) == (msg, where)


def test_errorf_warnf_assert_and_static_assert_are_statements():
    an = analyze('tracepoint:a:b { errorf("%d %s", args.n, comm); warnf("w"); '
                  'assert(args.n > 1, "small"); static_assert(sizeof(int16) * 2 == 4, "no"); }')
    assert [s.expr.type for s in an.program.probes[0].body] == [T.VOID] * 4


@pytest.mark.parametrize("src, msg, where", [
    ('BEGIN { errorf(1); }', "errorf() expects a string literal as first argument", (1, 9, 18)),
    ('tracepoint:a:b { warnf("%d", exit()); }', "warnf: unsupported argument type 'none'",
     (1, 30, 36)),
    ('BEGIN { assert(1); }', "assert() requires 2 arguments (1 provided)", (1, 9, 18)),
    ('BEGIN { assert(comm, "x"); }', "Invalid condition type: string[16]", (1, 16, 20)),
    ('BEGIN { assert(1, 2); }',
     "assert() expects a string for argument 2 ('int64' provided)", (1, 19, 20)),
    ('BEGIN { static_assert(1 + 1 == 3, "one and one make two"); }',
     "one and one make two", (1, 9, 58)),
    ('BEGIN { static_assert(pid == 3, "x"); }',
     "unable to evaluate compile-time assert", (1, 23, 31)),
    ('BEGIN { $m = "x"; static_assert(1, $m); }',
     "static_assert() expects a string literal message", (1, 36, 38)),
])
def test_errorf_and_assert_errors(src, msg, where):
    assert err(src) == (msg, where)


def test_static_assert_sees_positional_parameters():
    an = Analyzer(parse(Source('BEGIN { static_assert($1 > 2, "need more"); }')), expander,
                  ("5",)).run()
    assert an.program.probes[0].body[0].expr.type == T.VOID
    with pytest.raises(SemanticError, match="need more"):
        Analyzer(parse(Source('BEGIN { static_assert($1 > 2, "need more"); }')), expander,
                 ("1",)).run()


@pytest.mark.parametrize("expr, want", [
    ('kptr(args.filename)', T.PointerType(target="const char", user=False)),
    ('uptr(args.n)', T.PointerType(target="void", user=True)),
    ('cgroupid("/sys/fs/cgroup")', T.UINT64),
    ('pid()', T.UINT32), ('pid(curr_ns)', T.UINT32), ('tid(init)', T.UINT32),
])
def test_pointer_and_id_function_types(expr, want):
    assert ty(expr) == want


@pytest.mark.parametrize("src, msg, where", [
    ('BEGIN { kptr("a"); }', "kptr() expects an integer for argument 1 ('string[2]' provided)",
     (1, 14, 17)),
    ('BEGIN { $p = "/"; cgroupid($p); }', "cgroupid() expects a string literal", (1, 28, 30)),
    ('BEGIN { tid(all); }', "tid() expects one of: curr_ns, init", (1, 13, 16)),
    ('BEGIN { pid(init, 1); }', "pid() requires between 0 and 1 arguments (2 provided)",
     (1, 9, 21)),
])
def test_pointer_and_id_function_errors(src, msg, where):
    assert err(src) == (msg, where)


def test_reg_reads_registers_of_kprobes_and_uprobes():
    assert ty('reg("ip")', probe="uprobe:/bin/x:f") == T.UINT64
    assert ty('reg("r15") + reg("flags")', probe="uprobe:/bin/x:f") == T.UINT64


@pytest.mark.parametrize("src, msg, where", [
    ('tracepoint:a:b { reg("ip"); }', 'reg can not be used with "tracepoint" probes',
     (1, 18, 27)),
    ('uprobe:/bin/x:f { reg("rip"); }', "'rip' is not a valid register on this architecture",
     (1, 23, 28)),
    ('uprobe:/bin/x:f { $r = "ip"; reg($r); }', "reg() expects a string literal", (1, 34, 36)),
])
def test_reg_errors(src, msg, where):
    assert err(src) == (msg, where)


def test_percpu_kaddr_types_and_errors():
    assert ty('percpu_kaddr("runqueues")') == T.PointerType(target="uint64")
    assert ty('percpu_kaddr("runqueues", args.n)') == T.PointerType(target="uint64")
    assert err('BEGIN { $v = "x"; percpu_kaddr($v); }') == (
        "percpu_kaddr() expects a string literal", (1, 32, 34))
    assert err('BEGIN { percpu_kaddr("x", "y"); }') == (
        "percpu_kaddr() expects an integer for argument 2 ('string[2]' provided)", (1, 27, 30))


def test_socket_cookie_needs_btf_typed_arguments():
    assert err('tracepoint:a:b { socket_cookie(args.filename); }') == (
        "socket_cookie() needs a struct sock pointer typed from BTF: use it in rawtracepoint "
        "(with BTF), tp_btf or fentry/fexit probes", (1, 18, 46))


def test_builtins_taken_as_calls_are_those_no_function_has():
    # `comm()` is the builtin; `pid()` the function (lang.parser's list)
    from bpfscope.lang import parser
    from bpfscope.sema import registry
    both = set(registry.FUNCTIONS) & parser._BUILTIN_NAMES
    assert parser._CALLABLE_BUILTINS == parser._BUILTIN_NAMES - both


def test_build_id_stack_mode():
    t = ty("ustack(build_id, 5)", probe="uprobe:/bin/x:f")
    assert t == T.StackType("user", 5, "build_id")
    assert t.elem == 32 and t.size == 16 + 32 * 5  # bpf_stack_build_id frames
    assert ty("ustack", probe="uprobe:/bin/x:f",
              config={"stack_mode": "build_id"}).mode == "build_id"
    assert T.StackType("user", 5, "perf").size == 16 + 8 * 5


def test_build_id_kstack_falls_back_to_raw_with_a_warning():
    from bpfscope.errors import WarningLog, collecting
    with collecting(WarningLog()) as log:
        t = ty("kstack(build_id)")
    assert t == T.StackType("kernel", 127, "raw")
    assert [w.message for w in log.items] == [
        "'build_id' stack mode can only be used for ustack. Falling back to 'raw' mode."]
