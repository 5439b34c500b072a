"""bpf/perf.py and bpf/link.py against the kernel: programs attached to a
syscall tracepoint, a cpu-clock software event and a raw tracepoint really
run, and closing the fds detaches them and frees every object."""

import ctypes
import os
import struct
import subprocess
import time

import pytest

from bpfscope.bpf.consts import LinkType, MapType, PerfSwId, PerfType, ProgType
from bpfscope.bpf.link import attach_perf_event, link_info, raw_tracepoint_open
from bpfscope.bpf.maps import BpfMap
from bpfscope.bpf.perf import (PerfEventError, ioctl_disable, online_cpus,
                               perf_event_open)
from bpfscope.bpf.prog import load_program
from bpfscope.bpf.sys import close_fd, syscall_number

TRACEFS = "/sys/kernel/tracing"
KEY0 = struct.pack("<I", 0)


def tracepoint_id(category, name):
    path = f"{TRACEFS}/events/{category}/{name}/id"
    if not os.path.exists(path) and not os.path.ismount(TRACEFS):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS],
                       check=False, capture_output=True)
    try:
        with open(path) as f:
            return int(f.read())
    except OSError as e:
        pytest.skip(f"tracepoint {category}:{name} unavailable: {e}")


def total(m):
    vals = m.lookup(KEY0)
    vals = vals if isinstance(vals, list) else [vals]
    return sum(struct.unpack("<Q", v)[0] for v in vals)


def test_online_cpus():
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus = online_cpus()
    assert cpus[0] == int(text.split("-")[0].split(",")[0])
    assert len(cpus) == len(set(cpus)) >= 1


def test_tracepoint_counts_own_getpid_calls(no_leaks, asm):
    tp = tracepoint_id("syscalls", "sys_enter_getpid")
    me = os.getpid()
    with no_leaks.map(BpfMap.create(MapType.PERCPU_ARRAY, 4, 8, 1, "hits")) as m:
        # Count only this process: tgid is the upper half of pid_tgid.
        code = (asm.call(asm.GET_CURRENT_PID_TGID) + asm.rsh_imm(0, 32)
                + asm.jeq_imm(0, me, 2) + asm.mov_imm(0, 0) + asm.exit()
                + asm.count_into(m.fd))
        prog = no_leaks.prog(load_program(ProgType.TRACEPOINT, code, name="getpid"))
        perf_fds, links = [], []
        try:
            # One event on CPU 0 is enough: a tracepoint runs its attached
            # programs on every CPU (a second attach of the same program to
            # the same tracepoint fails with EEXIST).
            pfd = perf_event_open(PerfType.TRACEPOINT, tp, cpu=0, sample_period=1)
            perf_fds.append(pfd)
            lfd = attach_perf_event(prog, pfd)
            if lfd != pfd:
                no_leaks.link(lfd)
                assert link_info(lfd)[0] == LinkType.PERF_EVENT
            links.append(lfd)
            libc = ctypes.CDLL(None, use_errno=True)
            getpid_nr = {"x86_64": 39, "aarch64": 172}[os.uname().machine]
            for _ in range(25):
                assert libc.syscall(getpid_nr) == me
            assert total(m) == 25
            # Detached: further calls are not counted.
            for fd in links + perf_fds:
                close_fd(fd)
            libc.syscall(getpid_nr)
            assert total(m) == 25
        finally:
            for fd in links + perf_fds:
                close_fd(fd)
            close_fd(prog)


def test_perf_event_program_on_cpu_clock(no_leaks, asm):
    with no_leaks.map(BpfMap.create(MapType.ARRAY, 4, 8, 1)) as m:
        prog = no_leaks.prog(load_program(ProgType.PERF_EVENT, asm.count_into(m.fd)))
        fds = []
        try:
            for cpu in online_cpus():
                try:
                    pfd = perf_event_open(PerfType.SOFTWARE, PerfSwId.CPU_CLOCK,
                                          sample_freq=1000, cpu=cpu, disabled=True)
                except PerfEventError as e:
                    pytest.skip(str(e))
                fds.append(pfd)
                lfd = attach_perf_event(prog, pfd)
                if lfd != pfd:
                    fds.append(no_leaks.link(lfd))
            deadline = time.monotonic() + 2
            while total(m) < 5 and time.monotonic() < deadline:
                sum(range(10000))
            assert total(m) >= 5
            for pfd in fds:
                try:
                    ioctl_disable(pfd)
                except OSError:
                    pass  # a link fd, not a perf fd
        finally:
            for fd in fds:
                close_fd(fd)
            close_fd(prog)


def test_raw_tracepoint_sched_switch(no_leaks, asm):
    with no_leaks.map(BpfMap.create(MapType.ARRAY, 4, 8, 1)) as m:
        prog = no_leaks.prog(load_program(ProgType.RAW_TRACEPOINT,
                                          asm.count_into(m.fd)))
        try:
            link = no_leaks.link(raw_tracepoint_open("sched_switch", prog))
            try:
                assert link_info(link)[0] == LinkType.RAW_TRACEPOINT
                time.sleep(0.01)  # sleeping switches us out
                assert total(m) >= 1
            finally:
                close_fd(link)
            time.sleep(0.01)
            before = total(m)
            time.sleep(0.01)
            assert total(m) == before
        finally:
            close_fd(prog)


def test_perf_event_open_error_names_event():
    with pytest.raises(PerfEventError) as ei:
        perf_event_open(PerfType.TRACEPOINT, 0xFFFFFFF, cpu=0)
    assert ei.value.errno != 0
    assert "perf_event_open(tracepoint config=0xfffffff cpu=0 pid=-1) failed" in str(ei.value)


def test_syscall_numbers_for_this_arch():
    if os.uname().machine == "x86_64":
        assert (syscall_number("bpf"), syscall_number("perf_event_open")) == (321, 298)
