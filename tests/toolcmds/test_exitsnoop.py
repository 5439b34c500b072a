"""exitsnoop's script, its records and bcc's line layout."""

from __future__ import annotations

import io
import re

from bpfscope import api
from bpfscope.output.json import JsonOutput
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import exitsnoop
from bpfscope.toolcmds.common import ToolSink


def plan(*argv):
    return exitsnoop.build(exitsnoop.parser().parse_args(list(argv)))


def test_exit_codes_as_bcc_names_them():
    assert exitsnoop.exit_text(0) == "0"
    assert exitsnoop.exit_text(3 << 8) == "code 3"
    assert exitsnoop.exit_text(9) == "signal 9 (KILL)"
    assert exitsnoop.exit_text(11 | 0x80) == "signal 11 (SEGV), core dumped "


def test_script_filters_threads_pid_and_successes():
    text = plan("-x", "-p", "12").text
    assert "tracepoint:sched:sched_process_exit /pid == 12 && pid == tid/ {" in text
    assert "if ($t->exit_code == 0) { return; }" in text
    assert "/pid" not in plan("--per-thread").text
    api.check_syntax(text)


def _sink(p, json=False):
    out = io.StringIO()
    sink = ToolSink((JsonOutput if json else TextOutput)(out, io.StringIO()), p)
    return sink, out


def test_records_print_as_bcc_lines():
    p = plan("--label", "ex", "-t")
    assert re.fullmatch(r"TIME\(\w+\) +LABEL PCOMM +PID +PPID +TID +AGE\(s\) +EXIT_CODE\n",
                        p.banner)
    sink, out = _sink(p)
    sink.printf("\x1eexit\x1fsleep\x1f19004\x1f18986\x1f19004\x1f1002000000\x1f9\n")
    sink.printf("plain text\n")
    line, plain = out.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d\d {0,2}ex    "
                        r"sleep            19004   18986   19004   1.00    signal 9 \(KILL\)", line)
    assert plain == "plain text"


def test_records_in_json():
    sink, out = _sink(plan("-j"), json=True)
    sink.printf("\x1eexit\x1fsh\x1f5\x1f1\x1f5\x1f100\x1f768\n")
    assert out.getvalue() == ('{"type": "exit", "data": {"comm": "sh", "pid": 5, "ppid": 1, '
                              '"tid": 5, "age_ns": 100, "exit_code": 768}}\n')
