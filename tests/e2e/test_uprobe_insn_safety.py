"""uprobes never corrupt their target (issue 17 point 1): probes on
instructions this kernel mishandles are moved past them or refused, and
probes inside an instruction are refused. The classes come from the
experiment recorded in bpfscope/arch/x86_insn.py; the program here is
tests/attach/progs/insn_entry.S + .c, whose functions check their results."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import run_cli

PROGS = Path(__file__).parent.parent / "attach" / "progs"


def _has_avx512() -> bool:
    try:
        return " avx512f " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False


@pytest.fixture(scope="module")
def insn_prog(tmp_path_factory, kernel) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the instruction-class program")
    out = tmp_path_factory.mktemp("insn") / "insn_entry"
    subprocess.run([gcc, "-O1", "-o", str(out), str(PROGS / "insn_entry.c"),
                    str(PROGS / "insn_entry.S")], check=True, capture_output=True)
    return str(out)


@pytest.mark.parametrize("func,skipped", [("evex_kcmp", "62 f1 75 08 74 c9"),
                                          ("vex_por", "c5 e1 eb e3"),
                                          ("vex_kmovkk_e", "c5 f8 90 f5")])
def test_hazardous_entry_is_moved_and_program_stays_correct(insn_prog, func, skipped):
    if not _has_avx512():
        pytest.skip("the CPU lacks AVX-512 (no avx512f in /proc/cpuinfo): the "
                    "program's EVEX and opmask instructions would fault")
    r = run_cli("-e", f"uprobe:{insn_prog}:{func} {{ @n = count(); }}",
                "-c", f"{insn_prog} {func} 500", timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"{func} ok 500" in r.stdout, r.stdout
    assert "@n: 500" in r.stdout, r.stdout
    assert f"placed at +{len(skipped.split())} (after " in r.stderr
    assert skipped in r.stderr


def test_plain_entry_counts_and_is_not_moved(insn_prog):
    r = run_cli("-e", f"uprobe:{insn_prog}:legacy_lea {{ @n = count(); }}",
                "-c", f"{insn_prog} legacy_lea 300", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "legacy_lea ok 300" in r.stdout and "@n: 300" in r.stdout
    assert "placed at" not in r.stderr


def test_unmovable_hazard_is_refused(insn_prog):
    # vpbroadcastb esi->ymm17 followed by vmovd xmm17->eax (a GPR write)
    r = run_cli("-e", f"uprobe:{insn_prog}:evex_ymm17 {{ @n = count(); }}", timeout=30)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert ("ERROR: Cannot attach uprobe to the EVEX-encoded instruction "
            "62 e2 7d 28 7a ce at evex_ymm17 in") in r.stderr
    assert "Probe a caller" in r.stderr
    assert "Attached" not in r.stderr


def test_offset_hazard_is_refused(insn_prog):
    # evex_bcast58+6 is vmovq rsi->xmm16 (EVEX 0F 6E: the kernel refuses it)
    r = run_cli("-e", f"uprobe:{insn_prog}:evex_bcast58+6 {{ @n = count(); }}", timeout=30)
    assert r.returncode == 1
    assert "EVEX-encoded instruction 62 e1 fd 08 6e c6 at evex_bcast58+6" in r.stderr
    assert "never fire" in r.stderr


def test_middle_of_instruction_is_refused(insn_prog):
    r = run_cli("-e", f"uprobe:{insn_prog}:legacy_riprel+3 {{ @n = count(); }}", timeout=30)
    assert r.returncode == 1
    assert (f"ERROR: Could not add uprobe into middle of instruction: "
            f"{insn_prog}:legacy_riprel+3\n") in r.stderr  # bpftrace's words, no more
    assert "Traceback" not in r.stderr


def test_address_inside_instruction_is_refused(insn_prog):
    out = subprocess.run(["nm", insn_prog], capture_output=True, text=True).stdout
    addr = next(int(ln.split()[0], 16) for ln in out.splitlines()
                if ln.endswith(" legacy_riprel"))
    r = run_cli("-e", f"uprobe:{insn_prog}:{addr + 2:#x} {{ @n = count(); }}", timeout=30)
    assert r.returncode == 1
    # named as bpftrace names it: the symbol and the offset into it
    assert (f"Could not add uprobe into middle of instruction: "
            f"{insn_prog}:legacy_riprel+2\n") in r.stderr


CALLER = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  size_t (*volatile sl)(const char *) = strlen;
  void *(*volatile mc)(void *, const void *, size_t) = memcpy;
  char *(*volatile sc)(const char *, int) = strchrnul;
  char buf[128], dst[128];
  long bad = 0;
  for (int i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "test %d %i %s %x", i, 2, "three", 255);
    char want[128];
    sprintf(want, "test %d 2 three ff", i);
    if (strcmp(buf, want)) bad++;
    if (sl(buf) != strlen(want)) bad++;
    mc(dst, buf, sl(buf) + 1);
    if (strcmp(dst, want)) bad++;
    if (*sc(buf, '%') != 0) bad++;
  }
  printf("test %d %i %s\n", 1, 2, "three");
  printf("bad %ld\n", bad);
  return 0;
}
"""


@pytest.fixture(scope="module")
def caller(tmp_path_factory, kernel) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the libc caller")
    d = tmp_path_factory.mktemp("strcaller")
    (d / "strcaller.c").write_text(CALLER)
    subprocess.run([gcc, "-O1", "-fno-builtin", "-o", str(d / "strcaller"),
                    str(d / "strcaller.c")], check=True, capture_output=True)
    return str(d / "strcaller")


def test_libc_string_functions_by_name_leave_printf_correct(caller):
    """The EVEX implementations glibc picks on AVX-512 machines: counting
    calls must not change what the traced program (or any other) prints."""
    prog = ("uprobe:libc:strchrnul /pid == cpid/ { @c = count(); } "
            "uprobe:libc:strlen /pid == cpid/ { @l = count(); } "
            "uprobe:libc:memcpy /pid == cpid/ { @m = count(); }")
    r = run_cli("-e", prog, "-c", f"{caller} 200", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "test 1 2 three\nbad 0\n" in r.stdout, r.stdout
    # meanwhile another process's printf (bash's builtin uses strchrnul)
    counts = {k: int(v) for k, v in
              (ln[1:].split(": ") for ln in r.stdout.splitlines() if ln.startswith("@"))}
    assert counts["c"] >= 200 and counts["l"] >= 400 and counts["m"] >= 200, counts


def test_other_processes_printf_correct_while_traced(caller):
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "bpfscope.cli", "-e",
                             "uprobe:libc:strchrnul { @c = count(); } "
                             "uprobe:libc:strlen { @l = count(); } "
                             "uprobe:libc:memcpy { @m = count(); } "
                             "uprobe:libc:memset { @s = count(); } interval:s:3 { exit(); }"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        head = ""
        for line in proc.stderr:  # the placement warnings, then 'Attached'
            head += line
            if line.startswith("Attached"):
                break
        assert "Attached 5 probes" in head, head
        out = subprocess.run(["bash", "-c", 'printf "test %d %i %s\\n" 1 2 three'],
                             capture_output=True, text=True, timeout=10).stdout
        out2 = subprocess.run([caller, "50"], capture_output=True, text=True,
                              timeout=10).stdout
        tout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out == "test 1 2 three\n"
    assert out2 == "test 1 2 three\nbad 0\n"
    assert "@c: " in tout and "@l: " in tout


def test_uretprobe_on_hazardous_entry_is_moved_too(insn_prog):
    """The kernel puts a uretprobe's breakpoint at the entry as well; past
    a vector-only instruction the return address is still at the stack
    top, so the moved probe returns the right values."""
    if not _has_avx512():
        pytest.skip("the CPU lacks AVX-512 (no avx512f in /proc/cpuinfo)")
    r = run_cli("-e", f"uretprobe:{insn_prog}:evex_kcmp {{ @[retval > 0xffff] = count(); }}",
                "-c", f"{insn_prog} evex_kcmp 400", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "evex_kcmp ok 400" in r.stdout, r.stdout
    assert "@[true]: 400" in r.stdout, r.stdout
    assert "uretprobe on evex_kcmp" in r.stderr and "placed at +6" in r.stderr


def test_wildcard_leaves_out_an_unsafe_function(insn_prog):
    """evex_ymm17 cannot be probed safely: a wildcard naming it warns and
    probes the rest instead of failing."""
    if not _has_avx512():
        pytest.skip("the CPU lacks AVX-512 (no avx512f in /proc/cpuinfo)")
    r = run_cli("-e", f"uprobe:{insn_prog}:evex_* {{ @[probe] = count(); }}",
                "-c", f"{insn_prog} evex_kcmp 50", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "evex_ymm17 is left out" in r.stderr
    assert f"@[uprobe:{insn_prog}:evex_kcmp]: 50" in r.stdout, r.stdout


def test_placement_warning_is_data_text_json_and_no_warnings(insn_prog):
    """The compile's warning is kept on the compiled script and shown by
    the CLI once: as text on stderr, as a JSON record on stderr in -f json
    (stdout keeps bpftrace 0.26's records only), not at all under
    --no-warnings, and also when --dry-run runs nothing."""
    prog = f"uprobe:{insn_prog}:vex_por {{ @n = count(); }}"
    cmd = f"{insn_prog} vex_por 20"
    text = run_cli("-e", prog, "-c", cmd, timeout=60)
    assert text.returncode == 0, text.stderr
    warned = [x for x in text.stderr.splitlines() if x.startswith("WARNING: ")]
    assert len(warned) == 1 and "vex_por" in warned[0] and "placed at +4" in warned[0]
    j = run_cli("-f", "json", "-e", prog, "-c", cmd, timeout=60)
    assert j.returncode == 0, j.stderr
    records = [json.loads(x) for x in j.stdout.splitlines() if x.startswith("{")]
    assert not [r for r in records if r["type"] in ("warning", "note")]  # stdout: 0.26's
    [w] = [json.loads(x) for x in j.stderr.splitlines() if '"warning"' in x]
    assert w["msg"] == warned[0][len("WARNING: "):]
    assert "WARNING" not in j.stderr
    quiet = run_cli("--no-warnings", "-e", prog, "-c", cmd, timeout=60)
    assert quiet.returncode == 0 and "WARNING" not in quiet.stderr
    dry = run_cli("--dry-run", "-e", prog)
    assert dry.returncode == 0 and warned[0] in dry.stderr.splitlines()


def test_usdt_wildcard_fires_on_nop_sites_and_leaves_bad_ones_out(kernel, tmp_path):
    """tests/attach/progs/usdt_sites.S: two real sites on nops, two notes
    pointing at a VEX instruction and inside an instruction."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the USDT site program")
    prog = str(tmp_path / "usdt_sites")
    subprocess.run([gcc, "-O1", "-o", prog, str(PROGS / "usdt_sites.c"),
                    str(PROGS / "usdt_sites.S")], check=True, capture_output=True)
    r = run_cli("-e", f"usdt:{prog}:bst:* {{ @[probe] = count(); @s = sum(arg0); }}",
                "-c", f"{prog} 5", timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"@[usdt:{prog}:bst:nop_site]: 5" in r.stdout, r.stdout
    assert f"@[usdt:{prog}:bst:long_nop_site]: 5" in r.stdout, r.stdout
    assert "@s: 20" in r.stdout, r.stdout  # arg0 = 0..4 at both sites
    assert r.stderr.count("that site is left out") == 2, r.stderr
    assert "Attached 2 probes" in r.stderr
