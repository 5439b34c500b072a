"""The instruction-class experiment of bpfscope/arch/x86_insn.py, repeated
on the lane's kernels: a uprobe on the raw entry of each function of
tests/attach/progs/insn_entry.S (address probes with --unsafe, so bpfscope
neither moves nor refuses them), the program run while traced, and the
outcome compared with what attach/uprobe.py assumes of the entry
instruction (x86_insn.kernel_hazard):

- no hazard: the program computes the right results and every call fires;
- 'emulated': the kernel runs a legacy branch/nop instead of the vector
  instruction, so the program's check fails (or it crashes);
- 'refused': the kernel silently does not install the probe: the program
  is right and the probe never fires.

In the same run vex_por is probed by name: bpfscope moves that probe past
its hazardous entry, and the program stays right while every call counts.

QEMU's TCG (-cpu max) has AVX2 but no AVX-512: the EVEX and opmask
functions would fault there, so they are skipped with that reason (the
EVEX rows of the table come from the AVX-512 host). The probes sit only
on this test's own program: a probe on a shared library's raw entry would
corrupt every process of the guest."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpfscope.arch import x86_insn
from bpfscope.elf import SymbolTable

pytestmark = pytest.mark.vmlane

ROOT = Path(__file__).resolve().parents[3]
PROGS = ROOT / "tests" / "attach" / "progs"
CALLS = 200

# functions whose instructions need AVX-512 (EVEX, opmask registers)
NEEDS_AVX512 = ("evex_", "vex_kmov", "hold_zmm20", "hold_k3")
# hold_*: the probe belongs on leaf_nop (see insn_entry.S), not on their entry
NOT_ENTRY_CASES = ("hold_",)
# probed by name in the same run instead: bpfscope moves the probe past
# its vpor (VEX 0F EB, emulated as a jmp), and the program must stay right
BY_NAME = "vex_por"
# the result of these does not depend on their entry instruction, so its
# emulation as a legacy branch may go unnoticed (vzeroupper only clears
# upper vector halves the function never reads)
RESULT_BLIND = ("vex_vzeroupper",)


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.fixture(scope="module")
def prog(tmp_path_factory) -> str:
    built = os.environ.get("BPFSCOPE_VMLANE_INSN_ENTRY")  # by the lane, on the host
    if built and os.access(built, os.X_OK):
        return built
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the instruction-class program")
    out = tmp_path_factory.mktemp("insn") / "insn_entry"
    subprocess.run([gcc, "-O1", "-o", str(out), str(PROGS / "insn_entry.c"),
                    str(PROGS / "insn_entry.S")], check=True, capture_output=True)
    return str(out)


def _functions(prog: str) -> list[str]:
    src = (PROGS / "insn_entry.c").read_text()
    body = src[src.index("#define LIST(X)"):src.index("LIST(DECL)")]
    return re.findall(r"X\((\w+)\)", body)


def _cases(prog: str, evex: bool) -> dict[str, tuple[int, str | None, str]]:
    """{function: (entry address, hazard class, entry hex)} of the group:
    the EVEX/opmask functions (evex) or all the others."""
    st = SymbolTable(prog)
    cases = {}
    for name in _functions(prog):
        if name.startswith(NOT_ENTRY_CASES) or name.startswith(NEEDS_AVX512) != evex \
                or name == BY_NAME:
            continue
        addr = st.lookup_one(name).value
        ins = x86_insn.decode(st.elf.read_vaddr(addr, 15), 0, addr)
        cases[name] = (addr, x86_insn.kernel_hazard(ins), ins.hex)
    return cases


class Tracer:
    """bpfscope in the background, until SIGINT prints its maps."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "bpfscope.cli", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        self.head = ""
        deadline = time.monotonic() + 120
        for line in self.proc.stderr:
            self.head += line
            if line.startswith("Attached") or time.monotonic() > deadline:
                break
        assert "Attached" in self.head, self.head

    def finish(self) -> tuple[str, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out, self.head + err


def _counts(out: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^@\[(\S+)\]: (\d+)$", out, re.M)}


@pytest.mark.parametrize("group", ["vex_sse_legacy", "evex_opmask"])
def test_raw_entry_outcomes_match_the_hazard_table(prog, group):
    evex = group == "evex_opmask"
    if evex and "avx512f" not in _cpu_flags():
        pytest.skip("the CPU has no AVX-512 (QEMU's TCG -cpu max: no avx512f in "
                    "/proc/cpuinfo): the EVEX and opmask functions would fault")
    cases = _cases(prog, evex)
    script = " ".join(f"uprobe:{prog}:{addr:#x} {{ @[probe] = count(); }}"
                      for addr, _, _ in cases.values())
    # --unsafe keeps address probes where they are; a probe by name on a
    # movable hazard is still moved (one tracer start: the lane is slow)
    by_name = [] if evex else [BY_NAME]
    script += "".join(f" uprobe:{prog}:{n} {{ @[probe] = count(); }}" for n in by_name)
    t = Tracer("--unsafe", "-e", script)
    runs = {}
    try:
        for name in [*cases, *by_name]:
            runs[name] = subprocess.run([prog, name, str(CALLS)], capture_output=True,
                                        text=True, timeout=60)
    finally:
        out, err = t.finish()
    counts = _counts(out)
    rows, wrong = [], []
    for name, (addr, hazard, hexb) in cases.items():
        r = runs[name]
        ok = r.returncode == 0 and f"{name} ok {CALLS}" in r.stdout
        n = counts.get(f"uprobe:{prog}:{addr}", 0)
        got = f"ok={ok} fired={n}" + ("" if r.returncode >= 0 else f" signal {-r.returncode}")
        rows.append(f"{name:16} {hexb:24} {hazard or 'none':9} {got}")
        if hazard is None:
            good = ok and n == CALLS
        elif hazard == "emulated":
            good = not ok or name in RESULT_BLIND
        else:
            good = ok and n == 0
        if not good:
            wrong.append(rows[-1])
    report = f"{os.uname().release}, {group}:\n" + "\n".join(rows)
    print(report)
    assert not wrong, "outcome differs from x86_insn's table:\n" + "\n".join(wrong) + \
        "\n\n" + report + "\n" + err
    # every class the table names was exercised on this kernel
    assert {h for _, h, _ in cases.values()} >= {None, "emulated", "refused"}, report
    for n in by_name:
        assert f"{n} ok {CALLS}" in runs[n].stdout, (runs[n].stdout, err)
        assert counts.get(f"uprobe:{prog}:{n}") == CALLS, (out, err)
        assert f"uprobe on {n} in {prog} placed at +4 (after VEX-encoded c5 e1 eb e3)" in err
