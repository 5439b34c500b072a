"""mountsnoop's flag and errno words, and its lines made of two records."""

from __future__ import annotations

import io

from bpfscope import api
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import mountsnoop
from bpfscope.toolcmds.common import ToolSink


def test_flags_and_errors_as_bcc_writes_them():
    assert mountsnoop.flags_text(0, mountsnoop.MOUNT_FLAGS) == "0x0"
    assert mountsnoop.flags_text(1 | 4096, mountsnoop.MOUNT_FLAGS) == "MS_RDONLY|MS_BIND"
    assert mountsnoop.flags_text(2 | 0x100, mountsnoop.UMOUNT_FLAGS) == "MNT_DETACH|0x100"
    assert mountsnoop.errno_text(0) == "0" and mountsnoop.errno_text(-2) == "-ENOENT"
    assert mountsnoop.quoted('a"b\n') == '"a\\"b\\x0a"'


def test_the_line_is_printed_when_the_call_returns():
    plan = mountsnoop.build(mountsnoop.parser().parse_args([]))
    api.check_syntax(plan.text)
    out = io.StringIO()
    sink = ToolSink(TextOutput(out, io.StringIO()), plan)
    sink.printf("\x1emount\x1fmount\x1f10\x1f11\x1f4026531840\x1f/dev/sda1\x1f/mnt\x1fext4\x1f1\x1f\n")
    sink.printf("\x1eumount\x1fumount\x1f12\x1f12\x1f4026531840\x1f/mnt\x1f0\n")
    assert out.getvalue() == ""
    sink.printf("\x1eret\x1f12\x1f-22\n")
    sink.printf("\x1eret\x1f11\x1f0\n")
    sink.printf("\x1eret\x1f99\x1f0\n")         # a call that began before the trace
    assert out.getvalue() == (
        'umount           12      12      4026531840  umount("/mnt", 0x0) = -EINVAL\n'
        'mount            10      11      4026531840  mount("/dev/sda1", "/mnt", "ext4", '
        'MS_RDONLY, "") = 0\n')
