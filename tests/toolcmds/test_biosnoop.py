"""biosnoop: bpftrace's script without options, bcc's layout with them."""

from __future__ import annotations

import io

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import biosnoop
from bpfscope.toolcmds.common import ToolError, ToolSink


def plan(*argv):
    return biosnoop.build(biosnoop.parser().parse_args(list(argv)))


def test_without_options_it_is_the_bt_tool():
    p = plan("-c", "true")
    assert "tracepoint:block:block_io_start" in p.text and p.cmd == "true" and not p.records
    assert '"TIME(ms)"' in p.text


def test_queue_disk_and_pid_filters(monkeypatch, tmp_path):
    (tmp_path / "vdz").mkdir()
    (tmp_path / "vdz" / "dev").write_text("253:16\n")
    assert biosnoop.disk_dev("vdz", str(tmp_path)) == 253 << 20 | 16
    with pytest.raises(ToolError, match="-d vdy: no such disk"):
        biosnoop.disk_dev("vdy", str(tmp_path))
    monkeypatch.setattr(biosnoop, "disk_dev", lambda name: 253 << 20 | 16)
    text = plan("-Q", "-d", "vdz", "-p", "42").text
    assert f"tracepoint:block:block_io_start /args.dev == {253 << 20 | 16} && pid == 42/" in text
    assert f"tracepoint:block:block_rq_issue /args.dev == {253 << 20 | 16}/" in text
    api.check_syntax(text)


def test_lines_as_bcc_prints_them(monkeypatch):
    monkeypatch.setattr(biosnoop, "disk_names", lambda: {(253, 0): "vda"})
    p = plan("-Q")
    assert p.banner == ("TIME(s)     COMM           PID    DISK    T SECTOR     BYTES   "
                        "QUE(ms) LAT(ms)\n")
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    dev = 253 << 20
    sink.printf(f"\x1eio\x1f1000000000\x1fdd\x1f77\x1f{dev}\x1fW\x1f2048\x1f65536\x1f30000"
                f"\x1f410000\n")
    sink.printf(f"\x1eio\x1f1500000000\x1f?\x1f0\x1f{dev | 5}\x1fR\x1f8\x1f4096\x1f0\x1f1000\n")
    assert out.getvalue().splitlines() == [
        "0.000000    dd             77     vda     W 2048       65536      0.03    0.41",
        "0.500000    ?              0      253:5   R 8          4096       0.00    0.00"]
    assert "QUE" not in plan("-p", "1").banner
