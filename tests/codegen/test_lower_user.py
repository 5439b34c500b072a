"""Lowering of user-space helpers, exact instructions: uaddr() in a
position-independent file (ip + constant) and str(p, len) with a length
known only at run time (clamped to [1, size] for the verifier)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bpfscope.codegen.lower import compile_program
from bpfscope.elf import SymbolTable
from bpfscope.errors import Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import ExpandedProbe


@pytest.fixture(scope="module")
def pie(tmp_path_factory) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test program")
    d = tmp_path_factory.mktemp("lower_user")
    (d / "p.c").write_text("int g = 1; int tick(int i) { return i + g; } "
                           "int main(void) { return tick(0); }\n")
    subprocess.run([gcc, "-O1", "-fPIE", "-pie", "-o", str(d / "p"), str(d / "p.c")],
                   check=True, capture_output=True)
    return str(d / "p")


def disasm(src: str, binary: str) -> list[str]:
    st = SymbolTable(binary)
    site = st.lookup_one("tick").value

    def expand(ap):
        return [ExpandedProbe("uprobe", f"uprobe:{binary}:tick", (), None, ap.span,
                              func="tick", context="regs", binary=binary,
                              site_vaddr=site, load_bias=None)]
    an = Analyzer(parse(Source(src)), expand).run()
    prog = compile_program(an).programs[0].program
    # drop the "N: (op) " prefix: only the instructions matter
    return [line.split(") ", 1)[1] for line in prog.disasm().splitlines()]


def test_uaddr_is_ip_plus_a_constant(pie):
    st = SymbolTable(pie)
    delta = st.lookup_one("g", functions_only=False).value - st.lookup_one("tick").value
    code = disasm('uprobe:x:tick { @ = uaddr("g"); }', pie)
    i = next(i for i, c in enumerate(code) if c.endswith("+128)"))
    assert code[i].startswith("r") and " = *(u64 *)(r" in code[i]
    reg = code[i].split(" ")[0]
    assert code[i + 1] == f"{reg} += {delta}"


def test_runtime_str_length_is_clamped(pie):
    code = disasm("config = { max_strlen = 64 } uprobe:x:tick { @ = str(arg0, arg1); }", pie)
    # arg1 + 1, then: above 64 it is 64; 0 is 1; then arg0 and the read
    i = code.index("r2 = *(u64 *)(r7 +104)")
    assert code[i:i + 7] == ["r2 = *(u64 *)(r7 +104)", "r2 += 1", "if r2 <= 0x40 goto pc+1",
                             "r2 = 64", "if r2 != 0x0 goto pc+1", "r2 = 1",
                             "r7 = *(u64 *)(r7 +112)"]  # kept to tell a cut string
    assert "call bpf_probe_read_user_str#114" in code[i + 7:]
    assert "if r0 != 0x40 goto" in " ".join(code[i + 7:])  # read all 64: maybe cut
