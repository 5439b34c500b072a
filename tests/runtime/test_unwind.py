"""runtime.unwind on a module without unwind data: bpftrace 0.26's words,
said once, and the frames walked by frame pointer instead. The program is
built here with frame pointers, then its .eh_frame removed."""

import shutil
import subprocess

import pytest

from bpfscope.elf import ElfFile
from bpfscope.elf.cfi import RA, RBP, RSP, FrameTable
from bpfscope.runtime import unwind as U

SRC = "int main(void) { return 0; }\n"


@pytest.fixture
def no_cfi(tmp_path):
    if shutil.which("gcc") is None or shutil.which("objcopy") is None:
        pytest.skip("gcc and objcopy are needed")
    src = tmp_path / "p.c"
    src.write_text(SRC)
    out = str(tmp_path / "p")
    subprocess.run(["gcc", "-O0", "-fno-omit-frame-pointer", "-o", out, str(src)], check=True)
    subprocess.run(["objcopy", "--remove-section=.eh_frame", "--remove-section=.eh_frame_hdr",
                    out], check=True)
    return out


class _Syms:
    def __init__(self, elf):
        self.elf = elf

    def module_at(self, pid, addr):
        return self.elf, 0


def test_no_unwind_data_is_said_as_bpftrace_says_it(no_cfi, monkeypatch, capsys,
                                                     fresh_warnings):
    with ElfFile(no_cfi) as elf:
        table = FrameTable(elf)
        assert table.fdes == [] and not table.has_sections
        monkeypatch.setattr(U, "user_symbols", lambda: _Syms(elf))
        # leaf at 0x1000, its frame pointer chain: 0x2000 -> 0x3000 -> end
        base = 0x7000
        stack = bytearray(64)
        stack[16:24] = (base + 32).to_bytes(8, "little")    # saved rbp
        stack[24:32] = (0x2000).to_bytes(8, "little")       # return address
        stack[32:40] = (0).to_bytes(8, "little")
        stack[40:48] = (0x3000).to_bytes(8, "little")
        regs = {RA: 0x1000, RSP: base, RBP: base + 16}
        frames = U.unwind(1, regs, bytes(stack), 10)
        U.unwind(1, regs, bytes(stack), 10)
    assert frames[:3] == [0x1000, 0x2000, 0x3000]
    assert capsys.readouterr().err == (
        f"WARNING: object {no_cfi} does not contain a .eh_frame or .debug_frame section, "
        "can't extract information for stack walking\n")
