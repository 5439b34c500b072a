"""``func``: a ksym in probes of kernel functions, a usym in user-space
ones (bpftrace 0.26's types), 8 bytes holding the index of the traced
function's name, which each expanded probe knows when it compiles."""

import pytest

from bpfscope.codegen.lower import compile_program
from bpfscope.errors import SemanticError, Source
from bpfscope.lang.parser import parse
from bpfscope.sema.analyzer import Analyzer
from bpfscope.sema.probes import PT_REGS, USER_REGS, ExpandedProbe


def expander(ap):
    kind, *rest = ap.parts
    if kind == "kprobe":  # kprobe:f*: f1 and f2, one probe per function
        funcs = [rest[0][:-1] + "1", rest[0][:-1] + "2"] if rest[0].endswith("*") else rest
        return [ExpandedProbe("kprobe", f"kprobe:{f}", (), None, ap.span, func=f, layout=PT_REGS)
                for f in funcs]
    if kind == "uprobe":
        return [ExpandedProbe("uprobe", f"uprobe:/bin/x:{rest[1]}", (), None, ap.span,
                              func=rest[1], layout=USER_REGS)]
    return [ExpandedProbe(kind, kind, (), None, ap.span)]


def analyse(src):
    return Analyzer(parse(Source(src)), expander).run()


def test_ksym_in_kernel_probes_usym_in_user_ones_one_type_for_all_functions():
    an = analyse("kprobe:vfs_read*, kprobe:vfs_open { @k[func] = count(); } "
                 "uprobe:/bin/x:main { @u[func] = count(); }")
    k, u = an.maps["@k"].key.elems[0], an.maps["@u"].key.elems[0]
    assert (str(k), k.size, k.names) == ("ksym", 8, ("vfs_open", "vfs_read1", "vfs_read2"))
    assert (str(u), u.size, u.names) == ("usym", 8, ("main",))
    assert k.show_bytes((1).to_bytes(8, "little"), 0)[0] == "vfs_read1"


def test_each_probe_stores_the_index_of_its_function():
    progs = compile_program(analyse("kprobe:f*, kprobe:a { @[func] = count(); }")).programs
    stores = [[ln.split(": ", 1)[1] for ln in p.program.disasm().splitlines()][0]
              for p in progs]
    assert stores == ["(7a) *(u64 *)(r10 -16) = 1", "(7a) *(u64 *)(r10 -16) = 2",
                      "(7a) *(u64 *)(r10 -16) = 0"]


def test_a_ksym_and_a_usym_do_not_share_a_map():
    with pytest.raises(SemanticError, match="usym"):
        analyse("kprobe:f { @[func] = 1; } uprobe:/bin/x:g { @[func] = 1; }")


def test_probes_without_a_function_have_no_func():
    with pytest.raises(SemanticError, match="The func builtin can not be used with 'BEGIN'"):
        analyse("BEGIN { print(func); }")
