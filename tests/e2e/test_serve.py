"""bpfscope --serve against the kernel: the exporter traces a workload
this test causes and its /metrics, scraped with urllib, says what the
workload did; several scripts in one process; 127.0.0.1 unless asked;
SIGINT ends it with nothing left attached."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request

import pytest

ME = os.getpid()


def scrape(base: str, accept: str | None = None) -> tuple[str, str]:
    req = urllib.request.Request(base + "/metrics", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode(), r.headers["Content-Type"]


def sample(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = f"{name}{{{want}}}" if want else name
    for row in text.splitlines():
        if row.rpartition(" ")[0] == line:
            return float(row.rpartition(" ")[2])
    raise AssertionError(f"no {line} in:\n{text}")


def stop(tr) -> int:
    tr.proc.send_signal(signal.SIGINT)
    out, err = tr.proc.communicate(timeout=20)
    assert b"Traceback" not in err, err
    return tr.proc.returncode


SCRIPT = (f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ "
          f"{{ @calls = count(); @by[comm, @i % 2] = count(); @size = hist(@i); "
          f"@lin = lhist(@i, 0, 100, 50); @avg = avg(@i); @i++; }}")


def test_metrics_follow_the_workload(e2e, kernel, exporter_url):
    mark = e2e.bpf_ids()
    tr = e2e.Trace("--serve", "0", "-e", SCRIPT, wait_attached=False)
    base = exporter_url(tr.proc)
    try:
        assert base.startswith("http://127.0.0.1:")  # a bare port binds to loopback
        text, ctype = scrape(base)
        assert ctype.startswith("text/plain; version=0.0.4")
        assert sample(text, "bpfscope_calls_total") == 0  # there before the first event
        assert sample(text, "bpfscope_size_count") == 0
        for _ in range(100):
            os.getppid()
        text, _ = scrape(base)
        assert sample(text, "bpfscope_calls_total") == 100
        comm = open("/proc/self/comm").read().strip()
        assert sample(text, "bpfscope_by_total", comm=comm, key1=0) == 50
        assert sample(text, "bpfscope_by_total", comm=comm, key1=1) == 50
        # @i was 0..99 at each hist(): cumulative counts at each le
        assert sample(text, "bpfscope_size_bucket", le="0") == 1
        assert sample(text, "bpfscope_size_bucket", le="63") == 64
        assert sample(text, "bpfscope_size_bucket", le="127") == 100
        assert sample(text, "bpfscope_size_bucket", le="+Inf") == 100
        assert sample(text, "bpfscope_size_count") == 100
        assert sample(text, "bpfscope_size_sum") == sum(range(100))
        assert sample(text, "bpfscope_lin_sum") == sum(range(100))
        assert sample(text, "bpfscope_lin_bucket", le="49") == 50
        assert sample(text, "bpfscope_lin_bucket", le="99") == 100
        assert sample(text, "bpfscope_avg_sum") == sum(range(100))
        assert sample(text, "bpfscope_avg_count") == 100
        assert sample(text, "bpfscope_probes_attached") == 1
        assert sample(text, "bpfscope_lost_events_total") == 0
        assert sample(text, "bpfscope_up") == 1
        assert sample(text, "bpfscope_scrape_duration_seconds") < 5
        # maps are read, not cleared, by a scrape
        for _ in range(20):
            os.getppid()
        om, ctype = scrape(base, "application/openmetrics-text; version=1.0.0")
        assert ctype.startswith("application/openmetrics-text")
        assert om.endswith("# EOF\n") and "# TYPE bpfscope_calls counter" in om
        assert sample(om, "bpfscope_calls_total") == 120
    finally:
        assert stop(tr) == 0
    e2e.assert_no_new_objects(mark)


def test_scrapes_in_a_loop_miss_no_event(e2e, kernel, exporter_url):
    """Scrapes as fast as they come while the workload runs: every call is
    counted, and exit() from the script (an event the loop handles) still
    ends the exporter."""
    script = (f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ "
              f"{{ @calls = count(); @k[@i++ % 300] = count(); }} "
              f"tracepoint:syscalls:sys_enter_getpgid /pid == {ME}/ {{ exit(); }}")
    tr = e2e.Trace("--serve", "0", "--serve-max-series", "100", "-e", script,
                   wait_attached=False)
    base = exporter_url(tr.proc)
    done = threading.Event()
    scrapes = []

    def hammer():
        while not done.is_set():
            try:
                scrapes.append(scrape(base)[0])
            except OSError:
                return
    th = threading.Thread(target=hammer)
    th.start()
    try:
        for _ in range(3000):
            os.getppid()
        time.sleep(0.2)
        text, _ = scrape(base)
        assert sample(text, "bpfscope_calls_total") == 3000
        assert sample(text, "bpfscope_series_dropped", map="@k") == 200
        assert len([r for r in text.splitlines() if r.startswith("bpfscope_k_total{")]) == 100
    finally:
        done.set()
        th.join()
    assert len(scrapes) > 3
    os.getpgid(0)  # the script exits
    tr.proc.communicate(timeout=20)
    assert tr.proc.returncode == 0


@pytest.mark.parametrize("form", ["files", "directory"])
def test_several_scripts_in_one_process(e2e, kernel, exporter_url, tmp_path, form):
    a = tmp_path / "ppid.bt"
    a.write_text(f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ {{ @n = count(); }}\n")
    b = tmp_path / "pgid.bt"
    b.write_text(f"tracepoint:syscalls:sys_enter_getpgid /pid == {ME}/ {{ @n = count(); }}\n")
    (tmp_path / "notes.txt").write_text("not a script")
    mark = e2e.bpf_ids()
    # a directory: its *.bt, in name order
    scripts = [str(b), str(a)] if form == "files" else [str(tmp_path)]
    tr = e2e.Trace("--serve", "127.0.0.1:0", *scripts, wait_attached=False)
    base = exporter_url(tr.proc)
    try:
        for _ in range(7):
            os.getppid()
        for _ in range(3):
            os.getpgid(0)
        text, _ = scrape(base)
        assert sample(text, "bpfscope_n_total", script="ppid.bt") == 7
        assert sample(text, "bpfscope_n_total", script="pgid.bt") == 3
        assert sample(text, "bpfscope_probes_attached", script="pgid.bt") == 1
        assert text.count("# TYPE bpfscope_n_total counter") == 1
        assert text.index('script="pgid.bt"') < text.index('script="ppid.bt"')
    finally:
        assert stop(tr) == 0
    e2e.assert_no_new_objects(mark)


@pytest.mark.parametrize("args, message", [
    (["--serve", "nonsense:x", "-e", "BEGIN {}"], "ERROR: --serve nonsense:x: not a port"),
    (["--serve", "0"], "ERROR: --serve needs a script"),
    (["--serve", "0", "-e", "BEGIN { @x = count( }"], "stdin:1:"),
    (["--serve", "0", "/no/such.bt"], "ERROR: failed to open file '/no/such.bt'"),
])
def test_mistakes_are_one_error(e2e, kernel, args, message):
    r = e2e.run_cli(*args)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_a_script_that_exits_keeps_its_last_values(e2e, kernel, exporter_url, tmp_path):
    """One of two scripts calls exit(): its series stay, with
    bpfscope_up 0, while the other runs on; the exporter ends when both
    have ended."""
    a = tmp_path / "a.bt"
    a.write_text(f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ {{ @n = count(); }}\n"
                 f"tracepoint:syscalls:sys_enter_getpgid /pid == {ME}/ {{ exit(); }}\n")
    b = tmp_path / "b.bt"
    b.write_text(f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ {{ @m = count(); }}\n"
                 f"tracepoint:syscalls:sys_enter_getsid /pid == {ME}/ {{ exit(); }}\n")
    tr = e2e.Trace("--serve", "0", str(a), str(b), wait_attached=False)
    base = exporter_url(tr.proc)
    for _ in range(5):
        os.getppid()
    os.getpgid(0)
    deadline = time.monotonic() + 10
    while sample(scrape(base)[0], "bpfscope_up", script="a.bt") != 0:
        assert time.monotonic() < deadline, "a.bt did not end"
        time.sleep(0.05)
    for _ in range(5):
        os.getppid()
    text, _ = scrape(base)
    assert sample(text, "bpfscope_n_total", script="a.bt") == 5  # as it ended
    assert sample(text, "bpfscope_m_total", script="b.bt") == 10
    assert sample(text, "bpfscope_up", script="b.bt") == 1
    os.getsid(0)
    tr.proc.communicate(timeout=20)
    assert tr.proc.returncode == 0


def test_a_full_map_is_counted(e2e, kernel, exporter_url):
    script = (f"let @m = hash(2); tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ "
              f"{{ @m[@i++] = 1; }}")
    tr = e2e.Trace("--serve", "0", "-e", script, wait_attached=False)
    base = exporter_url(tr.proc)
    try:
        for _ in range(10):
            os.getppid()
        text, _ = scrape(base)
        assert sample(text, "bpfscope_map_full_total", map="@m") == 8
        assert len([r for r in text.splitlines() if r.startswith("bpfscope_m{")]) == 2
    finally:
        tr.proc.send_signal(signal.SIGINT)
        _, err = tr.proc.communicate(timeout=20)
    assert b"Map full" in err  # the warning, once, as the CLI gives it
