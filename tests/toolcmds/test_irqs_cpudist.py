"""cpudist, softirqs and hardirqs: their scripts and bcc's tables."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.runtime.values import MapData



def test_cpudist_on_cpu_is_timed_from_switch_in_to_switch_out(tool_plan):
    p = tool_plan("cpudist", "-p", "7", "-P", "1", "3")
    assert "if (@__ts[args.prev_pid] && pid == 7) {\n    @[pid, comm] = hist((nsecs - @__ts[args.prev_pid]) / 1000);" in p.text
    assert "if (args.next_pid != 0) { @__ts[args.next_pid] = nsecs; }" in p.text
    assert "interval:s:1 {\n  @__ticks = @__ticks + 1;\n  if (@__ticks >= 3)" in p.text
    assert p.banner == "Tracing on-CPU time... Hit Ctrl-C to end.\n" and p.pid == 7
    api.check_syntax(p.text)


def test_cpudist_off_cpu_keeps_the_process_of_the_thread_switched_out(tool_plan):
    p = tool_plan("cpudist", "-O", "-m", "-P")
    assert "@__ts[args.prev_pid] = nsecs; @__tgid[args.prev_pid] = pid;" in p.text
    assert "@[@__tgid[args.next_pid], args.next_comm] = hist((nsecs - @__ts[args.next_pid]) / 1000000);" in p.text
    api.check_syntax(p.text)
    text = p.formats["@"](MapData("@", "hist", [((9, "app"), {3: 1}), ((4, "sh"), {2: 2})]))
    assert text.startswith("\npid = 4 sh\n     msecs               : count     distribution\n")
    assert "\npid = 9 app\n" in text


def test_cpudist_idle_tasks_kept_per_cpu_and_extension_line(tool_plan):
    p = tool_plan("cpudist", "-I", "-O", "-e")
    idle = "(args.prev_pid == 0 ? -1 - (int64)cpu : (int64)args.prev_pid)"
    assert f"if (1) {{\n    @__ts[{idle}] = nsecs;" in p.text
    api.check_syntax(p.text)
    on = tool_plan("cpudist", "-I").text
    assert "{ @__ts[(args.next_pid == 0 ? -1 - (int64)cpu : (int64)args.next_pid)] = nsecs; }" in on
    text = p.formats["@"](MapData("@", "hist", [((), {3: 2, 5: 1})], sums={(): 64}))
    assert text.endswith("\navg = 21 usecs, total: 64 usecs, count: 3\n\n"), text


def test_softirqs_names_the_vectors_and_divides_the_totals(tool_plan):
    p = tool_plan("softirqs", "-T")
    assert "@[args.vec] = sum((nsecs - @__start[cpu]));" in p.text
    api.check_syntax(p.text)
    data = MapData("@", "sum", [((3,), 52000), ((1,), 9000), ((42,), 1000)])
    assert p.formats["@"](data) == ("42                         1\n"
                                    "timer                      9\n"
                                    "net_rx                    52\n")
    assert 'printf("SOFTIRQ          TOTAL_usecs\\n");' in p.text
    d = tool_plan("softirqs", "-d", "-c", "1")
    assert "tracepoint:irq:softirq_entry /cpu == 1/" in d.text and "hist((nsecs - @__start[cpu]) / 1000)" in d.text
    assert d.formats["@"](MapData("@", "hist", [((9,), {2: 1})])).startswith("\nsoftirq = rcu\n")


def test_hardirqs_count_time_and_distributions(tool_plan):
    c = tool_plan("hardirqs", "-C", "2", "5")
    assert "@[str(args.name)] = count();" in c.text and "irq_handler_exit" not in c.text
    assert "if (@__ticks >= 5)" in c.text
    assert 'printf("HARDIRQ                    TOTAL_count\\n");' in c.text
    assert c.formats["@"](MapData("@", "count", [(("virtio1-req.0",), 4)])) == \
        "virtio1-req.0                        4\n"
    t = tool_plan("hardirqs", "-N")
    assert "@[@__name[cpu]] = sum((nsecs - @__start[cpu]));" in t.text
    assert t.formats["@"](MapData("@", "sum", [(("eth0",), 1500)])).split() == ["eth0", "1500"]
    for p in (c, t, tool_plan("hardirqs", "-d")):
        api.check_syntax(p.text)


@pytest.mark.parametrize("name, argv", [("hardirqs", ["-C", "-d"]), ("cpudist", ["0"]),
                                        ("softirqs", ["1", "x"])])
def test_bad_options(name, argv, tool_plan):
    with pytest.raises(SystemExit) as e:
        tool_plan(name, *argv)
    assert e.value.code == 2
