"""filetop's script and bcc's top-like layout."""

from __future__ import annotations

from bpfscope import api
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds import filetop


def plan(*argv):
    return filetop.build(filetop.parser().parse_args(list(argv)))


def test_script_follows_the_read_and_write_calls():
    p = plan("-p", "42", "2", "3")
    text = p.text
    assert "tracepoint:syscalls:sys_enter_read,\n" in text and \
        "tracepoint:syscalls:sys_enter_pwritev2 /pid == 42/ {\n  @__fd[tid] = args.fd;" in text
    assert "tracepoint:syscalls:sys_exit_preadv2 /has_key(@__fd, tid)/" in text
    assert "$f = curtask->files->fdt->fd[$fd];" in text
    assert "if ($d->d_name.len != 0 && ($mode & 0xf000) == 0x8000) {" in text
    assert "@writes[$k] = count();\n      @wbytes[$k] = sum(args.ret);" in text
    assert "interval:s:2 {" in text and "@__ticks >= 3" in text and p.pid == 42
    api.check_syntax(text)
    assert "0x8000) {" not in plan("-a").text
    api.check_syntax(plan("-a").text)


def _draw(p, reads, writes, rbytes, wbytes):
    out = ""
    for name, entries in zip(filetop.MAPS, (reads, writes, rbytes, wbytes)):
        out += p.formats[name](MapData(name, "count", entries))
    return out


def test_rows_sorted_cut_and_long_names():
    a = (7, "cat", ord("R"), "passwd", False)
    b = (8, "dd", ord("O"), "a-very-long-file-name-of-32-char", True)
    rows = _draw(plan("-C"), [(a, 1)], [(b, 3)], [(a, 16384)], [(b, 3 * 1024)])
    assert rows == ("7      cat              1      0      16      0       R passwd\n"
                    "8      dd               0      3      0       3       O "
                    "a-very-long-file-name-of-32-c...\n")
    assert _draw(plan("-s", "writes"), [(a, 1)], [(b, 3)], [(a, 16384)], [(b, 3 * 1024)]) \
        .startswith("8 ")
    assert _draw(plan("-r", "1"), [(a, 1)], [(b, 3)], [(a, 16384)], []).count("\n") == 1
    top = plan("-C").records["top"].text({})
    assert top.startswith("\n") and top.endswith(
        "\nTID    COMM             READS  WRITES R_Kb    W_Kb    T FILE\n")
