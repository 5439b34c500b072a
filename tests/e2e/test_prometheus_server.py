"""A real Prometheus (Debian's prometheus package) scrapes a bpfscope
exporter that traces a workload this test causes; the query API's rate()
and histogram_quantile() of the exported series must say what the
workload did.

The package is installed with apt-get when missing (the debian_tool
fixture; .ci/run installs it too); where it cannot be, the test skips and
says why. Prometheus runs on
127.0.0.1 with its data in the test's tmp dir and scrapes every second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

ME = os.getpid()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, binary: str, target: str, tmp):
        self.port = _free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                       "scrape_configs:\n  - job_name: bpfscope\n"
                       f"    static_configs:\n      - targets: ['{target}']\n")
        self.log = open(tmp / "prometheus.log", "w+")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, q: str):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, q: str) -> float | None:
        res = self.query(q)
        return float(res[0]["value"][1]) if res else None

    def wait(self, q: str, ok, timeout: float = 30) -> float:
        """Poll query ``q`` until ``ok(value)``."""
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise AssertionError(f"prometheus exited: {self.log.read()[-2000:]}")
            try:
                v = self.value(q)
            except OSError:
                v = None  # not listening yet
            if v is not None and ok(v):
                return v
            time.sleep(0.25)
        self.log.seek(0)
        raise AssertionError(f"{q} stayed at {v}; prometheus said: {self.log.read()[-2000:]}")

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


SCRIPT = (f"tracepoint:syscalls:sys_enter_getppid /pid == {ME}/ {{ @calls = count(); }} "
          f"tracepoint:syscalls:sys_enter_getpgid /pid == {ME}/ "
          f"{{ @pgid = lhist(args.pid, 0, 1000, 100); @log = hist(args.pid); }}")
RATE = 400       # getppid calls per second
VALUES = [10 * k for k in range(100)]  # getpgid arguments, each tick: uniform over 0..990
EPS = 1e-6      # a float rounding error in a quantile Prometheus computed


def test_prometheus_sees_what_the_workload_did(e2e, kernel, tmp_path, exporter_url,
                                               debian_tool):
    binary = debian_tool("prometheus", "prometheus")
    mark = e2e.bpf_ids()
    tr = e2e.Trace("--serve", "127.0.0.1:0", "-e", SCRIPT, wait_attached=False)
    prom = None
    stop = threading.Event()
    calls = [0, 0.0, 0.0]   # made, first and last time

    def workload():
        tick = 0.1
        calls[1] = time.monotonic()
        nxt = calls[1]
        while not stop.is_set():
            for _ in range(int(RATE * tick)):
                os.getppid()
            calls[0] += int(RATE * tick)
            for v in VALUES:
                try:
                    os.getpgid(v)
                except OSError:
                    pass  # no such process: the syscall was still made
            calls[2] = time.monotonic()
            nxt += tick
            time.sleep(max(0.0, nxt - time.monotonic()))
    th = threading.Thread(target=workload)
    try:
        target = exporter_url(tr.proc).removeprefix("http://")
        prom = Prometheus(binary, target, tmp_path)
        # two scrapes of the exporter before the workload starts
        prom.wait('count_over_time(bpfscope_up{job="bpfscope"}[1m])', lambda v: v >= 2)
        th.start()
        time.sleep(6)
        got_rate = prom.wait("rate(bpfscope_calls_total[4s])", lambda v: v > 0)
        made_rate = calls[0] / (calls[2] - calls[1])
        assert abs(got_rate - made_rate) / made_rate < 0.3, (got_rate, made_rate)
        # uniform over 0..990 in lhist buckets of 100: the 90th percentile
        # is the top of the 9th bucket (values up to 899), the median of
        # the 5th (499); a log2 hist says [512, 1023] holds the 90th.
        # Prometheus interpolates in floats (899.0000000000001 was seen):
        # the bounds allow a rounding error, nothing more
        p90 = prom.value("histogram_quantile(0.9, rate(bpfscope_pgid_bucket[4s]))")
        p50 = prom.value("histogram_quantile(0.5, rate(bpfscope_pgid_bucket[4s]))")
        assert 850 <= p90 <= 899 + EPS and 450 <= p50 <= 499 + EPS, (p50, p90)
        p90_log = prom.value("histogram_quantile(0.9, rate(bpfscope_log_bucket[4s]))")
        assert 511 - EPS <= p90_log <= 1023 + EPS, p90_log
        # _sum / _count: the mean of the values, exactly (every tick sends them all)
        mean = prom.value("rate(bpfscope_pgid_sum[4s]) / rate(bpfscope_pgid_count[4s])")
        assert abs(mean - sum(VALUES) / len(VALUES)) < 1, mean
    finally:
        stop.set()
        if th.is_alive():
            th.join()
    assert prom is not None
    try:
        # once scraped after the workload, the counter is exactly its calls
        prom.wait("bpfscope_calls_total", lambda v: v == calls[0], timeout=10)
        assert prom.value("bpfscope_lost_events_total") == 0
        assert prom.value("bpfscope_probes_attached") == 2
    finally:
        if prom is not None:
            prom.close()
        tr.proc.send_signal(signal.SIGINT)
        _, err = tr.proc.communicate(timeout=20)
    assert tr.proc.returncode == 0 and b"Traceback" not in err, err
    e2e.assert_no_new_objects(mark)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_shipped_scrape_config_is_valid():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    r = subprocess.run([promtool, "check", "config", os.path.join(REPO, "contrib",
                                                                 "prometheus.yml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_shipped_unit_serves_on_loopback():
    """The unit's command line is one bpfscope accepts, bound to 127.0.0.1."""
    text = open(os.path.join(REPO, "contrib", "bpfscope-exporter.service")).read()
    sections = re.findall(r"^\[(\w+)\]$", text, re.M)
    assert sections == ["Unit", "Service", "Install"]
    cmd = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    assert "--serve 127.0.0.1:" in cmd
    from bpfscope.cliopts import _parser
    args = cmd.split()[1:]
    opts = _parser().parse_intermixed_args(args)
    assert opts.serve == "127.0.0.1:9435" and opts.args == ["/etc/bpfscope"]
