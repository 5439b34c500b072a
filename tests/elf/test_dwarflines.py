"""elf.dwarflines: .debug_line read in both of gcc's versions (4 and 5,
and compressed), asked both ways: a source line's addresses and an
address's source line."""

import pytest

from bpfscope.elf import SymbolTable
from bpfscope.elf.dwarflines import LineTable

from .conftest import _build

SOURCE = "dwargs.c"


def line_of(text):
    import os
    with open(os.path.join(os.path.dirname(__file__), "progs", SOURCE)) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError(text)


@pytest.fixture(scope="module", params=[["-gdwarf-4"], ["-gdwarf-5"], ["-g", "-gz"]],
                ids=["dwarf4", "dwarf5", "compressed"])
def prog(request, tmp_path_factory):
    return _build(tmp_path_factory, "gcc", SOURCE, "dwargs", "-O1", *request.param)


def test_a_functions_line_starts_at_its_symbol(prog):
    t = LineTable(prog)
    with SymbolTable(prog) as st:
        for name in ("takes_ptr", "takes_pair", "main"):
            sym = st.lookup_one(name)
            # main's opening brace has a line of its own
            line = line_of(f" {name}(") if name != "main" else line_of("int main(") + 1
            assert t.addresses(SOURCE, line)[0] == sym.value, name
            assert t.at(sym.value) == (t.at(sym.value)[0], line)
            assert t.at(sym.value)[0].endswith("/" + SOURCE) or t.at(sym.value)[0] == SOURCE
        main = st.lookup_one("main")
        inside = {t.at(a)[1] for a in range(main.value, main.value + main.size) if t.at(a)}
    assert line_of("int main(") + 1 in inside and line_of("usleep(20000)") in inside
    assert t.addresses("progs/" + SOURCE, line_of("usleep(20000)"))  # by a path suffix too


def test_lines_without_code_and_other_files(prog):
    t = LineTable(prog)
    blank = line_of("#include <unistd.h>") + 1
    assert t.addresses(SOURCE, blank) == []
    assert blank not in t.lines_of(SOURCE)
    assert t.addresses("other.c", line_of("int main(")) == []
    assert t.at(0) is None


def test_no_debug_information_no_lines(tmp_path_factory):
    bare = _build(tmp_path_factory, "gcc", SOURCE, "bare", "-O1")
    assert not LineTable(bare).has_lines
