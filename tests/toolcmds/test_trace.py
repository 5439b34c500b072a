"""trace: probe specifiers -> the bpftrace script, and the lines of its records."""

from __future__ import annotations

import io
import os

import pytest

from bpfscope import api
from bpfscope.errors import BpfscopeError
from bpfscope.output.text import TextOutput
from bpfscope.toolcmds import cexpr
from bpfscope.toolcmds.cexpr import SpecError
from bpfscope.toolcmds.common import ToolError, ToolSink

pytestmark = pytest.mark.usefixtures("offline_specs")


def sink(plan, *records: str) -> str:
    out = io.StringIO()
    s = ToolSink(TextOutput(out, io.StringIO()), plan)
    for r in records:
        s.printf(r)
    return out.getvalue()


def rec(tag: str, *values) -> str:
    return "\x1e" + tag + "".join("\x1f" + str(v) for v in values) + "\n"


def test_kernel_function_with_a_string_argument(tool_plan):
    plan = tool_plan("trace", 'do_sys_openat2 "%s", arg2')
    assert f"kprobe:do_sys_openat2 /pid != {os.getpid()}/ {{\n" in plan.text
    assert '\\x1f%s\\n", pid, tid, comm, str(arg1, 80));' in plan.text
    assert plan.banner == "PID     TID     COMM            FUNC             -\n"
    api.check_syntax(plan.text)
    assert sink(plan, rec("t0", 10, 11, "cat", "/etc/passwd")) == \
        "10      11      cat             do_sys_openat2   /etc/passwd\n"


def test_return_with_a_predicate(tool_plan):
    plan = tool_plan("trace", "-S", 'r::do_sys_openat2 (retval < 0) "failed %d", retval')
    # retval as wide as the function's BTF return type (an int)
    assert "kretprobe:do_sys_openat2 {\n  if (((int32)retval) < 0) {\n" in plan.text
    assert ", (int32)(((int32)retval)));" in plan.text
    assert sink(plan, rec("t0", 5, 5, "ls", -2)) == \
        "5       5       ls              do_sys_openat2   failed -2\n"


def test_tracepoint_field(tool_plan):
    plan = tool_plan("trace", "-p", "42", 't:syscalls:sys_enter_openat "%s", args->filename')
    assert "tracepoint:syscalls:sys_enter_openat /pid == 42/ {" in plan.text
    assert "str(args->filename, 80)" in plan.text and plan.pid == 42
    with pytest.raises(SpecError, match="this kernel has no tracepoint sched:nope"):
        tool_plan("trace", "t:sched:nope")


def test_user_functions_usdt_fallback_and_signature(tool_plan):
    plan = tool_plan("trace", "-L", "7", 'u:c:malloc "size %d", arg1',
                     'c:free(void *ptr) (ptr != 0) "%llx", ptr', "u:c:setjmp")
    assert "uprobe:/lib/libc.so.6:malloc /tid == 7/ {" in plan.text   # no USDT malloc
    assert "uprobe:/lib/libc.so.6:free /tid == 7/ {\n  $ptr = (uint64)arg0;\n" \
           "  if ($ptr != 0) {" in plan.text
    assert "usdt:/lib/libc.so.6:libc:setjmp /tid == 7/ {" in plan.text
    assert ", (uint64)($ptr));" in plan.text and ", (int32)(arg0));" in plan.text
    out = sink(plan, rec("t1", 3, 7, "app", 0xdead), rec("t2", 3, 7, "app"))
    assert out == ("3       7       app             free             dead\n"
                   "3       7       app             setjmp           \n")


def test_names_messages_and_max_events(tool_plan):
    plan = tool_plan("trace", "-n", "ap", "-f", "big", "-M", "2", 'c:malloc "%s %u", arg1, arg2')
    lines = [rec("t0", 1, 1, "app", "big", 5), rec("t0", 1, 1, "bash", "big", 5),
             rec("t0", 1, 1, "app", "small", 5), rec("t0", 1, 1, "app", "big", 6),
             rec("t0", 1, 1, "app", "big", 7)]
    assert not plan.stop()
    out = sink(plan, *lines)
    assert [l.split()[-1] for l in out.splitlines()] == ["5", "6"] and plan.stop()


def test_time_columns_stacks_and_cpu(tool_plan):
    plan = tool_plan("trace", "-T", "-C", "-U", "c:malloc")
    assert plan.banner == "TIME     CPU PID     TID     COMM            FUNC             \n"
    assert ", pid, tid, comm, cpu, ustack);" in plan.text
    out = sink(plan, rec("t0", 1, 2, "app", 3, "\n        main+5\n        0x7f00\n"))
    head, *frames = out.split("\n")
    assert head[9:].split() == ["3", "1", "2", "app", "malloc"]
    assert frames == ["        main+5", "        [unknown]", "", ""]
    plan = tool_plan("trace", "-t", "c:malloc")
    assert ", pid, tid, comm, nsecs);" in plan.text


def test_formats(tool_plan):
    plan = tool_plan("trace", 'c:malloc "%-5d|%lu|%hx|%c|%K|%U|100%%", arg1, arg2, arg3, '
                     'arg4, arg5, arg6')
    assert ("(int32)(arg0), (uint64)(arg1), (uint16)(arg2), (uint8)(arg3), ksym(arg4), "
            "usym(arg5));") in plan.text
    assert sink(plan, rec("t0", 1, 1, "a", -3, 7, 255, 65, "vfs_read", "main")).endswith(
        "-3   |7|ff|A|vfs_read|main|100%\n")


def test_c_expressions(tool_plan):
    plan = tool_plan("trace", 'c:malloc(struct file *f, char *buf) '
                     '(STRCMP("bash", buf) && $tgid != 1) "%d %d", f->f_flags, (int)arg2@user')
    assert "$f = (struct file *)arg0;\n  $buf = (int8 *)arg1;" in plan.text
    assert 'if ((str($buf, 6) == "bash") && pid != 1) {' in plan.text
    assert "(int32)($f->f_flags), (int32)((int32) uptr(arg1)));" in plan.text


@pytest.mark.parametrize("spec, message, mark", [
    ("x:y:z", "probe type must be", "~"),
    ("c:malloc (arg1 > 0", "unmatched end of predicate", "         ~~~~~~~~~"),
    ('c:malloc "%d %d", arg1', "2 conversions but 1 arguments", "         ~~~~~~~~~~~~~"),
    ('c:malloc "%d", arg0', "numbered from arg1", "               ~~~~"),
    ('c:malloc "%d", $nope', "unknown variable '$nope'", "               ~~~~~"),
    ("c:nothere", "no function nothere in c", "~~~~~~~~~"),
    ("nolib:f", "unable to find library nolib", "~~~~~"),
    ("u:c:nothere", "unrecognized USDT probe nothere", "~~~~~~~~~~~"),
    ("t:syscalls", "needs two more", "~~~~~~~~~~"),
    ("c:malloc(foo_t x)", "unknown type 'foo_t'", "         ~~~~~"),
    ("r::vfs_read+4", "a return probe takes no offset", "           ~~"),
    ("r::vfs_read(int fd)", "a return probe can't read the parameters", "           ~~~~~~~~"),
    ("c:mall*", "no wildcards", "~~~~~~~"),
])
def test_bad_specifiers_are_located(tool_plan, spec, message, mark):
    with pytest.raises(SpecError) as e:
        tool_plan("trace", spec)
    assert message in e.value.message
    assert str(e.value).splitlines()[1:] == [f"    {spec}", f"    {mark}"]


def test_bad_options(tool_plan):
    with pytest.raises(ToolError, match="-M/--max-events should be specified"):
        tool_plan("trace", "-A", "c:malloc")
    with pytest.raises(ToolError, match="only one of -p and -L"):
        tool_plan("trace", "-p", "1", "-L", "2", "c:malloc")
    with pytest.raises(SystemExit):
        tool_plan("trace")


def test_aggregate_prints_counts_at_the_end(tool_plan):
    plan = tool_plan("trace", "-A", "-M", "3", "c:malloc")
    out = sink(plan, rec("t0", 1, 1, "a"), rec("t0", 1, 1, "a"), rec("t0", 2, 2, "b"))
    assert out == ("1       1       a               malloc           \n-->COUNT 2\n\n"
                   "2       2       b               malloc           \n-->COUNT 1\n\n")


def test_compile_errors_are_told_at_their_specifier(monkeypatch):
    monkeypatch.undo()          # the real check_script
    raw = 'c:malloc "%d", 1 + nosuch'
    text = cexpr.mark("other") + "BEGIN { }\n" + cexpr.mark(raw) + \
        'BEGIN { printf("%d", 1 + nosuch); }\n'
    with pytest.raises(SpecError) as e:
        cexpr.check_script(text, "trace", ["other", raw])
    assert str(e.value).splitlines() == [
        f"error in probe '{raw}': Unknown identifier: 'nosuch'", f"    {raw}",
        "                       ~~~~~~"]
    with pytest.raises(BpfscopeError) as e:
        cexpr.check_script("BEGIN { printf(\"%d\", nosuch); }", "trace", [raw])
    assert not isinstance(e.value, SpecError)        # outside the specifiers: as it is


def test_a_prints_each_frames_address_first(tool_plan):
    plan = tool_plan("trace", "-K", "-U", "-a", "t:syscalls:sys_enter_openat")
    assert "kstack(perf), ustack(perf));" in plan.text
    api.check_syntax(plan.text)
    out = sink(plan, rec("t0", 5, 5, "sh", "\tffffffff8223b76f do_syscall_64+527\n",
                         "\t7f06c4aff4f7 getppid+7 (/usr/lib/libc.so.6)\n"
                         "\t4142003d5f005345 0x4142003d5f005345 ([unknown])\n"))
    assert out.splitlines()[1:] == ["        ffffffff8223b76f do_syscall_64+527",
                                    "            7f06c4aff4f7 getppid+7",
                                    "        4142003d5f005345 [unknown]", ""]
    assert "ustack);" in tool_plan("trace", "-U", "t:syscalls:sys_enter_openat").text


def test_buffer_pages_per_cpu(tool_plan):
    import os
    plan = tool_plan("trace", "-b", "4", "do_sys_openat2")
    assert f"perf_rb_pages = {4 * (os.cpu_count() or 1)} }}" in plan.text.splitlines()[0]
    assert "perf_rb_pages" not in tool_plan("trace", "do_sys_openat2").text
