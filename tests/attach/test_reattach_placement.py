"""Re-attaching after a library is replaced (bpfscope.attach.reattach)
checks the new file's code as the first attach did: a test-built shared
library is replaced by versions whose function entries became hazardous
(moved past, or refused: the probe stays on the old file) or safe again
(back at the entry), and whose func+offset fell inside an instruction.
No kernel: the uprobe perf event is stubbed and its offset recorded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from bpfscope.attach import reattach, uprobe
from bpfscope.elf import SymbolTable

HEAD = """#define FN(name) .globl name; .type name,@function; .align 16; name:
#define END(name) .size name, .-name
	.text
"""
TAIL = '\t.section .note.GNU-stack,"",@progbits\n'

# lf: a plain entry; lg: a plain entry; lh+3: the add after a 3-byte mov
PLAIN = HEAD + """
FN(lf)
	lea (%rdi,%rsi,1), %rax
	ret
END(lf)
FN(lg)
	mov %rsi, %rax
	ret
END(lg)
FN(lh)
	mov %rsi, %rax
	add %rdi, %rax
	ret
END(lh)
""" + TAIL

# lf: vpor (VEX 0F EB, emulated as a jmp) then integer code: moved by 4;
# lg: vpshufd then vpextrq into %rax: cannot move; lh+3 is inside the lea
HAZARD = HEAD + """
FN(lf)
	vpor %xmm3, %xmm3, %xmm4
	lea (%rdi,%rsi,1), %rax
	ret
END(lf)
FN(lg)
	vpshufd $0x44, %xmm7, %xmm1
	vpextrq $1, %xmm1, %rax
	ret
END(lg)
FN(lh)
	lea (%rdi,%rsi,1), %rax
	add %rdi, %rax
	ret
END(lh)
""" + TAIL


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict[str, str]:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc to build the test libraries")
    d = tmp_path_factory.mktemp("reattach")
    out = {}
    for name, src in (("plain", PLAIN), ("hazard", HAZARD)):
        (d / f"{name}.S").write_text(src)
        so = d / f"lib{name}.so"
        subprocess.run([gcc, "-shared", "-o", str(so), str(d / f"{name}.S")], check=True,
                       capture_output=True)
        out[name] = str(so)
    return out


def _offset(path, name, plus=0):
    st = SymbolTable(path)
    return st.elf.vaddr_to_offset(st.lookup_one(name).value + plus)


class Lane:
    """A Watcher over probes on one path, with the perf event stubbed."""

    def __init__(self, expand, monkeypatch, path, specs):
        self.path = path
        self.opened, self.said, self.swaps = [], [], []
        monkeypatch.setattr(uprobe, "open_uprobe", self._open)
        monkeypatch.setattr(uprobe, "attach_to_perf_event", lambda prog, pfd: [pfd])
        monkeypatch.setenv("BPFSCOPE_NO_UPROBE_MULTI", "1")  # the perf-event path, stubbed
        self.probes = [p for s in specs for p in expand(f"uprobe:{path}:{s}")]
        self.w = reattach.Watcher([(p, 7, [50 + i]) for i, p in enumerate(self.probes)],
                                  say=self.said.append)

    def _open(self, p, off, ret, pid):
        self.opened.append(off)
        return 100 + len(self.opened)

    def replace_with(self, src):
        shutil.copy(src, self.path + ".new")
        os.rename(self.path + ".new", self.path)
        self.opened.clear()
        self.said.clear()
        self.w.poll(lambda old, new: self.swaps.append((old, new)), force=True)


def test_entry_that_became_hazardous_is_moved_or_refused(tmp_path, libs, monkeypatch,
                                                         capsys, expand_spec):
    path = str(tmp_path / "libt.so")
    shutil.copy(libs["plain"], path)
    lane = Lane(expand_spec, monkeypatch, path, ["lf", "lg", "lh+3"])
    assert [p.target.offset for p in lane.probes] == [
        _offset(path, "lf"), _offset(path, "lg"), _offset(path, "lh", 3)]
    lane.replace_with(libs["hazard"])
    # lf: past the vpor, as a first attach would place it
    assert lane.opened == [_offset(path, "lf", 4)]
    assert lane.said[0].startswith(f"Re-attached uprobe:{path}:lf (placed at +4, past "
                                   f"its hazardous entry): {path} was replaced")
    e = lane.w.entries[path]
    assert e[0].target.vaddr - e[0].target.requested == 4
    # lg and lh+3 cannot be placed in the new file: they stay on the old one
    assert re.match(rf"WARNING: cannot re-attach uprobe:{re.escape(path)}:lg: "
                    rf"{re.escape(path)} was replaced \(inode \d+ -> \d+\) and Cannot "
                    rf"attach uprobe to the VEX-encoded instruction c5 f9 70 cf 44 at lg "
                    rf"in ", lane.said[1]), lane.said[1]
    assert lane.said[1].endswith("it stays on the old file")
    assert lane.said[2].startswith(f"WARNING: cannot re-attach uprobe:{path}:lh+3: ")
    assert (f"Could not add uprobe into middle of instruction: {path}:lh+3; it stays "
            f"on the old file") in lane.said[2]
    assert len(lane.said) == 3
    assert [old for old, _ in lane.swaps] == [[50]]
    assert "placed at +4 (after VEX-encoded c5 e1 eb e3)" in capsys.readouterr().err


def test_entry_that_became_safe_gets_the_probe_back(tmp_path, libs, monkeypatch,
                                                   expand_spec):
    path = str(tmp_path / "libt.so")
    shutil.copy(libs["hazard"], path)
    lane = Lane(expand_spec, monkeypatch, path, ["lf"])
    assert lane.probes[0].target.offset == _offset(path, "lf", 4)
    lane.replace_with(libs["plain"])
    # the requested place (the entry) is resolved again, not the moved one
    assert lane.opened == [_offset(path, "lf")]
    assert lane.said == [f"Re-attached uprobe:{path}:lf: {path} was replaced "
                         f"(inode {lane.said[0].split('(inode ')[1]}"]
    # and back to the hazardous version: moved again
    lane.replace_with(libs["hazard"])
    assert lane.opened == [_offset(path, "lf", 4)]


IFUNC_SRC = r"""
__attribute__((noinline)) static int impl_a(int x) { asm volatile(""); return x + %d; }
__attribute__((noinline)) static int impl_b(int x) { asm volatile(""); return x * 2; }
static void *resolve_pick(void) { return %s ? (void *)impl_a : (void *)impl_b; }
int pick(int) __attribute__((ifunc("resolve_pick")));
"""


def _ifunc_lib(d, name, add):
    src = d / f"{name}.c"
    src.write_text(IFUNC_SRC % (add, "1"))
    so = d / f"{name}.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(so), str(src)], check=True,
                   capture_output=True)
    return str(so)


def test_ifunc_implementation_follows_only_the_same_code(tmp_path, monkeypatch,
                                                        expand_spec):
    """An IFUNC's implementation has no name to find it by in the new file
    (it is re-attached by address): only where the new file has the same
    code there."""
    import ctypes
    if shutil.which("gcc") is None:
        pytest.skip("no gcc to build the test libraries")
    same = _ifunc_lib(tmp_path, "same", 1)
    other = _ifunc_lib(tmp_path, "other", 1000)
    path = str(tmp_path / "libpick.so")
    shutil.copy(same, path)
    ctypes.CDLL(path)  # loaded here, so ifunc.implementation can ask the resolver
    lane = Lane(expand_spec, monkeypatch, path, ["pick"])
    t = lane.probes[0].target
    st = SymbolTable(path)
    assert t.symbol == "" and t.vaddr != st.lookup_one("pick").value  # the implementation
    assert t.code and t.code == st.elf.read_vaddr(t.vaddr, len(t.code))
    # the same library again (a reinstall): re-attached at the address
    lane.replace_with(same)
    assert lane.opened == [st.elf.vaddr_to_offset(t.vaddr)]
    assert lane.said[0].startswith(f"Re-attached uprobe:{path}:pick: ")
    # another build: the implementation is not known, it stays on the old file
    lane.replace_with(other)
    assert lane.opened == []
    assert lane.said[0].startswith(f"WARNING: cannot re-attach uprobe:{path}:pick: ")
    assert lane.said[0].endswith(f"the code at {t.vaddr:#x} is not the same in the new "
                                 f"file, so the probed function cannot be found there; "
                                 f"it stays on the old file")
