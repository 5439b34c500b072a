"""CLI flags: -l, --dry-run, -d, -o, -q, -V, -h; and the Python API with a
custom sink."""

from __future__ import annotations

import pytest


def test_list_exact_tracepoint(e2e, kernel):
    r = e2e.run_cli("-l", "tracepoint:sched:sched_switch")
    assert (r.returncode, r.stdout, r.stderr) == (0, "tracepoint:sched:sched_switch\n", "")


def test_list_glob(e2e, kernel):
    r = e2e.run_cli("-l", "tracepoint:sched:sched_process_e*")
    assert r.returncode == 0
    assert r.stdout == ("tracepoint:sched:sched_process_exec\n"
                        "tracepoint:sched:sched_process_exit\n")


def test_list_no_match(e2e, kernel):
    r = e2e.run_cli("-l", "tracepoint:nosuch_category_xyz:*")
    assert (r.returncode, r.stdout) == (0, "")


def test_dry_run_loads_nothing(e2e, kernel, no_leaks):
    r = e2e.run_cli("--dry-run", "-e", 'BEGIN { printf("should not run\\n"); exit(); }')
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_dry_run_still_reports_errors(e2e):
    r = e2e.run_cli("--dry-run", "-e", "BEGIN { foo(); }")
    assert r.returncode == 1
    assert r.stderr.startswith("stdin:1:9-14: ERROR: Unknown function: 'foo'\n")


def test_debug_prints_ast_and_disassembly(e2e):
    r = e2e.run_cli("--dry-run", "-d", "all", "-e", 'BEGIN { @x = 1 + 2; exit(); }')
    assert r.returncode == 0
    assert r.stdout == ""
    assert r.stderr.startswith("AST:\nBEGIN {\n    @x = 1 + 2;\n    exit();\n}\n\n")
    assert "\nbegin (raw_tracepoint, " in r.stderr
    assert "call bpf_map_update_elem#2" in r.stderr
    assert "\n0: (" in r.stderr
    assert r.stderr.splitlines()[-1].endswith(": (95) exit")


def test_debug_ast_only(e2e):
    r = e2e.run_cli("--dry-run", "-d", "ast", "-e", 'BEGIN { @x = 1 + 2; exit(); }')
    assert (r.returncode, r.stderr) == (0, "AST:\nBEGIN {\n    @x = 1 + 2;\n    exit();\n}\n\n")


def test_debug_with_a_real_run(e2e, kernel):
    r = e2e.run_cli("-d", "all", "-e", 'BEGIN { printf("ran\\n"); exit(); }')
    assert r.returncode == 0
    assert r.stdout == "ran\n\n\n"
    # printf's record of no arguments goes out in one bpf_ringbuf_output
    assert "call bpf_ringbuf_output#130" in r.stderr
    assert r.stderr.endswith("Attached 1 probe\n")


def test_output_file(e2e, kernel, tmp_path):
    out = tmp_path / "out.txt"
    r = e2e.run_cli("-o", str(out), "-e", 'BEGIN { printf("x\\n"); @a = 1; exit(); }')
    assert r.returncode == 0
    assert r.stdout == ""
    assert r.stderr == "Attached 1 probe\n"
    assert out.read_text() == "x\n\n\n@a: 1\n"


def test_quiet(e2e, kernel):
    r = e2e.run_cli("-q", "-e", 'BEGIN { printf("x\\n"); exit(); }')
    assert (r.returncode, r.stdout, r.stderr) == (0, "x\n\n\n", "")


def test_version_and_help(e2e):
    r = e2e.run_cli("-V")
    assert r.returncode == 0 and r.stdout.startswith("bpfscope v")
    r = e2e.run_cli("-h")
    assert r.returncode == 0 and r.stdout.startswith("USAGE:")


# ---------------------------------------------------------------- the API

class RecordingSink:
    def __init__(self):
        self.events = []

    def attached(self, n):
        self.events.append(("attached", n))

    def printf(self, text):
        self.events.append(("printf", text))

    def map(self, data, top=0, div=1):
        self.events.append(("map", data.name, sorted(data.entries), top, div))

    def maps_at_exit(self, maps):
        self.events.append(("exit_maps", {m.name: sorted(m.entries) for m in maps}))

    def value(self, v):
        self.events.append(("value", v))

    def lost_events(self, n):
        self.events.append(("lost", n))

    def time(self, text):
        self.events.append(("time", text))

    def warning(self, msg):
        self.events.append(("warning", msg))

    def error(self, msg):
        self.events.append(("error", msg))

    def flush(self):
        pass


def test_api_compile_and_run_with_custom_sink(kernel, no_leaks):
    from bpfscope import api
    script = api.compile_script(
        'BEGIN { printf("a %d\\n", 5); @c["k"] = count(); @c["k"] = count(); @s = sum(7); '
        'print(@c, 0, 2); exit(); } END { printf("end\\n"); }')
    sink = RecordingSink()
    assert api.run(script, sink) == 0
    assert sink.events == [
        ("attached", 2),
        ("printf", "a 5\n"),
        ("map", "@c", [(("k",), 2)], 0, 2),
        ("printf", "end\n"),
        ("exit_maps", {"@c": [(("k",), 2)], "@s": [((), 7)]}),
    ]


def test_api_exit_code(kernel):
    from bpfscope import api
    script = api.compile_script('BEGIN { exit(3); }')
    assert api.run(script, RecordingSink()) == 3


def test_api_duration_and_params(kernel, no_leaks):
    from bpfscope import api
    script = api.compile_script('interval:ms:10 { @n = count(); @p = $1; }', params=["9"])
    sink = RecordingSink()
    assert api.run(script, sink, duration=0.3) == 0
    final = sink.events[-1]
    assert final[0] == "exit_maps"
    assert final[1]["@p"] == [((), 9)]
    n = final[1]["@n"][0][1]
    assert 3 <= n <= 40


def test_api_compile_error_format():
    from bpfscope import api
    from bpfscope.errors import BpfscopeError
    with pytest.raises(BpfscopeError) as ei:
        api.compile_script("BEGIN {\n  @x = count(1);\n}", name="my.bt")
    assert ei.value.format() == ("my.bt:2:8-16: ERROR: count() requires 0 arguments (1 provided)\n"
                                 "  @x = count(1);\n"
                                 "       ~~~~~~~~")
