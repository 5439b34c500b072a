"""ext4slower, xfsslower and fileslower: their scripts and bcc's layouts."""

from __future__ import annotations

import io
import os
import re

import pytest

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import ext4slower, fileslower, xfsslower
from bpfscope.toolcmds.common import ToolError, ToolSink


def plan(tool, *argv):
    return tool.build(tool.parser().parse_args(list(argv)))


@pytest.fixture
def has_fs(monkeypatch):
    monkeypatch.setattr(ext4slower, "known_filesystem", lambda fs: True)


def test_filesystem_tools_time_the_calls_of_their_files(has_fs):
    text = plan(ext4slower, "-p", "5", "1").text
    assert "tracepoint:syscalls:sys_enter_pread64,\ntracepoint:syscalls:sys_enter_pwrite64 " \
        "/pid == 5/ {\n  @__ts[tid] = nsecs;\n  @__fd[tid] = args.fd;\n  @__off[tid] = args.pos;" \
        in text
    assert "@__off[tid] = curtask->files->fdt->fd[args.fd]->f_pos;" in text
    assert "if ($lat >= 1000000 && args.ret >= 0) {" in text
    assert "$f->f_inode->i_sb->s_magic == 0xef53" in text
    assert "$f = curtask->files->fdt->fd[args.ret];" in text          # an open's new fd
    assert "sys_exit_fdatasync /has_key(@__ts, tid)/" in text
    api.check_syntax(text)
    text = plan(xfsslower, "0").text
    assert "s_magic == 0x58465342" in text and "if ($lat >= 0 &&" in text
    assert f"/pid != {os.getpid()}/" in text          # not the tracer's own output
    api.check_syntax(text)


def test_fileslower_reads_and_writes_of_regular_files():
    text = plan(fileslower).text
    assert "s_magic" not in text and "sys_enter_openat" not in text
    assert "($f->f_inode->i_mode & 0xf000) == 0x8000" in text and "$lat >= 10000000" in text
    assert "0x8000" not in plan(fileslower, "-a").text
    api.check_syntax(text)


def test_a_kernel_without_the_filesystem(monkeypatch, tmp_path):
    fs = tmp_path / "filesystems"
    fs.write_text("nodev\tsysfs\n\text4\n")
    assert ext4slower.known_filesystem("ext4", str(fs))
    assert not ext4slower.known_filesystem("xfs", str(fs))
    monkeypatch.setattr(ext4slower, "known_filesystem", lambda name: False)
    with pytest.raises(ToolError, match=r"^this kernel has no xfs filesystem .*not loaded\)$"):
        plan(xfsslower)


@pytest.mark.parametrize("argv", [["-1"], ["x"], ["-p", "0"]])
def test_bad_thresholds(argv):
    with pytest.raises(SystemExit) as e:
        plan(fileslower, *argv)
    assert e.value.code == 2


def _lines(p, *records):
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), p)
    for r in records:
        sink.printf("\x1eop\x1f" + "\x1f".join(map(str, r)) + "\n")
    return out.getvalue().splitlines()


REC = ("W", 2_000_000_000, "a-long-command-name", 40, 41, 5000, 8192, 16_050_000, "log")


def test_layouts(has_fs):
    p = plan(ext4slower)
    assert p.banner == ("Tracing ext4 operations slower than 10 ms\n"
                        "TIME     COMM           PID     T BYTES   OFF_KB   LAT(ms) FILENAME\n")
    assert plan(ext4slower, "0").banner.startswith("Tracing ext4 operations\n")
    (line,) = _lines(p, REC)
    assert re.fullmatch(r"\d\d:\d\d:\d\d a-long-command 40      W 5000    8          16.05 log",
                        line), line
    p = plan(xfsslower, "-j")
    assert p.banner == "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE\n"
    assert _lines(p, REC) == ["2000000,a-long-command-name,40,W,5000,8192,16050,log"]
    p = plan(fileslower)
    assert p.banner == ("Tracing sync read/writes slower than 10 ms\n"
                        "TIME(s)  COMM           TID    D BYTES   LAT(ms) FILENAME\n")
    assert _lines(p, REC, REC[:1] + (2_500_000_000,) + REC[2:]) == [
        "0.000    a-long-command 41     W 5000      16.05 log",
        "0.500    a-long-command 41     W 5000      16.05 log"]
