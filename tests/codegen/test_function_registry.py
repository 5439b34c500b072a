"""A function registered by the test itself (sema.registry) is checked by
sema and lowered by codegen with no other module knowing its name."""

import pytest

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema import registry
from bpfscope.sema import types as T
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


def check_triple(an, e):
    an.nargs(e, 1)
    an.int_arg(e, 0)
    return T.UINT64


def lower_triple(lw, e):
    v = lw.int_expr(e.args[0])
    r = lw.b.vreg()
    lw.b.mov(r, v.reg)
    lw.b.alu("mul", r, 3)
    return type(v)(r)


@pytest.fixture
def triple():
    registry.register(registry.Function("toy_triple", check_triple, lower=lower_triple))
    yield
    registry.unregister("toy_triple")


def expander(ap):
    return [ExpandedProbe(ap.parts[0], ap.parts[0], (), None, ap.span)]


def analyse(src):
    return Analyzer(parse(Source(src)), expander).run()


def test_a_registered_function_is_typed_and_lowered(triple):
    an = analyse("BEGIN { @a = toy_triple(14); }")
    call = an.program.probes[0].body[0].value
    assert call.type == T.UINT64
    code = [line.split(": ", 1)[1] for line in
            compile_program(an).programs[0].program.disasm().splitlines()]
    assert code[:3] == ["(b7) r0 = 14", "(27) r0 *= 3", "(7b) *(u64 *)(r10 -16) = r0"]


def test_its_check_gives_located_errors(triple):
    with pytest.raises(SemanticError, match=r"toy_triple\(\) requires 1 argument \(2 provided\)"):
        analyse("BEGIN { @a = toy_triple(1, 2); }")
    with pytest.raises(SemanticError, match=r"toy_triple\(\) expects an integer"):
        analyse('BEGIN { @a = toy_triple("x"); }')


def test_unregistered_it_is_unknown():
    with pytest.raises(SemanticError, match="Unknown function: 'toy_triple'"):
        analyse("BEGIN { @a = toy_triple(14); }")


def test_a_name_registered_twice_is_refused(triple):
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.Function("toy_triple", check_triple))


def test_every_registered_function_is_lowered_one_way_or_said_to_be_unsupported():
    assert len(registry.FUNCTIONS) > 50  # bpfscope.functions filled the table (conftest)
    for name, f in sorted(registry.FUNCTIONS.items()):
        ways = [w for w in ("lower", "store", "emit") if getattr(f, w) is not None]
        if ways:
            assert len(ways) == 1, (name, ways)
            continue
        with pytest.raises(SemanticError, match=rf"{name}\(\) is not supported yet"):
            analyse(f"BEGIN {{ {name}(); }}")


def test_a_record_without_lowering_fails_the_compile_not_the_run(triple):
    registry.unregister("toy_triple")
    registry.register(registry.Function("toy_triple", check_triple))
    with pytest.raises(SemanticError, match=r"toy_triple\(\) has no lowering"):
        compile_program(analyse("BEGIN { toy_triple(1); }"))


def test_a_statement_function_sends_a_record_its_own_handler_takes():
    import types

    from bpfscope.runtime.session import Session

    def check(an, e):
        an.nargs(e, 0)
        return T.VOID

    def emit(lw, e):
        lw.emit_event(lw.sc.event("toy_hello"), [])

    seen = []
    registry.register(registry.Function("toy_hello", check, emit=emit,
                                        on_record={"toy_hello": lambda s, ev, data: seen.append(
                                            (s, ev.kind, data))}))
    try:
        script = compile_program(analyse("BEGIN { toy_hello(); }"))
        (ev,) = [ev for ev in script.events.values() if ev.kind == "toy_hello"]
        session = types.SimpleNamespace()
        Session.handle(session, ev, b"record")
        assert seen == [(session, "toy_hello", b"record")]
    finally:
        registry.unregister("toy_hello")
    assert registry.event_handler("toy_hello") is None


def test_a_function_with_a_value_type_of_its_own_prints_it():
    from dataclasses import dataclass

    from bpfscope.runtime.decode import decode

    @dataclass(frozen=True)
    class Hex(T.Type):
        size = 8

        def show_bytes(self, data, off):
            raw = bytes(data[off:off + 8])
            return hex(int.from_bytes(raw, "little")), raw

        def __str__(self):
            return "hex"

    def check(an, e):
        an.nargs(e, 1)
        an.int_arg(e, 0)
        return Hex()

    def store(lw, e, dst, t):
        lw.b.stx(8, dst.base, dst.off, lw.int_expr(e.args[0]).reg)

    registry.register(registry.Function("toy_hex", check, store=store))
    try:
        script = compile_program(analyse('BEGIN { printf("%s\\n", toy_hex(255)); @h = toy_hex(16); }'))
    finally:
        registry.unregister("toy_hex")
    (ev,) = [ev for ev in script.events.values() if ev.kind == "printf"]
    assert ev.layout.elems == (Hex(),)
    assert decode(Hex(), (255).to_bytes(8, "little")).text == "0xff"
    assert isinstance(script.maps["@h"].value, Hex)

