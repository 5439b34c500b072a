"""The VM test lane's pytest glue.

- ``vmlane.py`` (beside this file) is importable as ``vmlane``.
- The ``vmlane`` marker: a test that needs a kernel with what the host's
  kernel lacks (kprobes, fentry). Every test under ``guest/`` gets it.
  Outside the lane's guest (no ``BPFSCOPE_VMLANE_GUEST`` in the
  environment) such tests skip; ``test_vm_lane.py`` boots each kernel
  and runs them there.
- At the end of a run that included the lane, one line per kernel says
  whether the lane ran and what it found, or why it did not run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LANE_TEST = "test_vm_lane.py::test_guest_tests["


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "vmlane: runs inside the VM test lane's guest kernel "
        "(tests/vm/guest/, booted by tests/vm/test_vm_lane.py); skipped elsewhere")


def pytest_collection_modifyitems(config, items):
    guest = HERE / "guest"
    in_guest = bool(os.environ.get("BPFSCOPE_VMLANE_GUEST"))
    skip = pytest.mark.skip(reason="runs only inside the VM lane's guest kernel "
                            "(tests/vm/test_vm_lane.py boots it)")
    for item in items:
        if guest in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.vmlane)
        if not in_guest and item.get_closest_marker("vmlane"):
            item.add_marker(skip)


# kernel series -> the lane test's deciding report (its call, or a setup
# that skipped or failed)
_lane: dict = {}


def pytest_runtest_logreport(report):
    if LANE_TEST not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _lane[report.nodeid.split("[", 1)[1].rstrip("]")] = report


def pytest_terminal_summary(terminalreporter):
    if not _lane:
        return
    tr = terminalreporter
    for series, rep in _lane.items():
        props = dict(rep.user_properties)
        kernel = props.get("kernel", f"Linux {series}")
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            reason = reason.removeprefix("Skipped: ")
            tr.write_line(f"VM test lane: {kernel}: did not run: {reason}")
        elif rep.passed:
            tr.write_line(f"VM test lane: {kernel}: ran, {props.get('suite', 'guest tests')}: "
                          f"{props.get('summary', '?')}"
                          f" (boot to command {props.get('start', '?')} s,"
                          f" {props.get('seconds', '?')} s in all)")
        else:
            tr.write_line(f"VM test lane: {kernel}: ran, FAILED: {props.get('summary', rep.outcome)}")
