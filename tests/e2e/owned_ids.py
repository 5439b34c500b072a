"""Which BPF objects one tracer process made, so the leak checks count only
those and other BPF users on the machine (other test runs, bpftrace,
systemd) can neither make them fail nor make them pass.

Run as ``python owned_ids.py ARGS`` it is ``python -m bpfscope.cli ARGS``
with one addition: when ``BPFSCOPE_TEST_ID_LOG`` names a file, every BPF
object the process creates (a map, program, link or BTF object: the fd a
creating bpf(2) command returns) is appended to it as ``kind id`` the
moment it exists, read from the new fd's /proc/self/fdinfo. The log
survives a SIGKILL. :func:`install` does the same inside this process
(for tests that run a session through the Python API).

The hook sits on ``bpfscope.bpf.sys.raw_syscall``, the one place bpf(2) is
called, so it sees every object without the tracer knowing about tests.
"""

from __future__ import annotations

import os
import sys
import time

ENV = "BPFSCOPE_TEST_ID_LOG"
KINDS = ("prog", "map", "link", "btf")
# bpf(2) commands whose result is the fd of a new object
_CREATING = {0: "map", 5: "prog", 17: "link", 18: "btf", 28: "link"}


def fdinfo_ids(pid, fd) -> dict[str, int]:
    """{kind: id} of the BPF object behind fd ``fd`` of process ``pid``
    (a link gives its own id and its program's)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            text = f.read()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.endswith("_id") and v.strip().isdigit():
            fields[k[:-3]] = int(v)
    return {k: v for k, v in fields.items() if k in KINDS}


def pid_ids(pid) -> dict[str, set[int]]:
    """Ids of every BPF object process ``pid`` holds an fd of right now."""
    out = {k: set() for k in KINDS}
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return out
    for fd in fds:
        for k, v in fdinfo_ids(pid, fd).items():
            out[k].add(v)
    return out


def install(record, module=None) -> None:
    """Call ``record(kind, id)`` for each object this process creates
    from now on; ``module`` is bpfscope.bpf.sys (imported when None)."""
    if module is None:
        from bpfscope.bpf import sys as module
    real = module.raw_syscall
    bpf_nr = module.syscall_number("bpf")

    def raw_syscall(nr, *args):
        ret, err = real(nr, *args)
        if nr == bpf_nr and ret >= 0 and args:
            cmd = getattr(args[0], "value", args[0])
            kind = _CREATING.get(cmd)
            if kind is not None:
                ids = fdinfo_ids("self", ret)
                if kind in ids:
                    record(kind, ids[kind])
        return ret, err

    module.raw_syscall = raw_syscall
    return real


def append_to(path):
    def record(kind, oid):
        # opened per record: the tracer may run with fd 0, 1 or 2 closed,
        # and a log fd held open would take that number for good
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, f"{kind} {oid}\n".encode())
        finally:
            os.close(fd)
    return record


def read_log(path) -> dict[str, set[int]]:
    out = {k: set() for k in KINDS}
    try:
        with open(path) as f:
            for line in f:
                kind, _, oid = line.partition(" ")
                if kind in out and oid.strip().isdigit():
                    out[kind].add(int(oid))
    except FileNotFoundError:
        pass
    return out


def alive() -> dict[str, set[int]]:
    from bpfscope.bpf import objects
    return {"prog": set(objects.prog_ids()), "map": set(objects.map_ids()),
            "link": set(objects.link_ids()), "btf": set(objects.btf_ids())}


def still_alive(ids: dict[str, set[int]], wait: float = 5.0) -> dict[str, list[int]]:
    """The ids of ``ids`` the kernel still has after up to ``wait`` s
    (programs and maps are freed after an RCU grace period, not at close)."""
    deadline = time.monotonic() + wait
    while True:
        now = alive()
        left = {k: sorted(ids[k] & now[k]) for k in KINDS if ids.get(k, set()) & now[k]}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def main() -> None:
    path = os.environ.get(ENV)
    if path:
        install(append_to(path))
    import runpy
    try:
        sys.path[0] = os.getcwd()  # as with -m: the working directory, not this one's
    except FileNotFoundError:
        del sys.path[0]  # deleted: -m leaves it out
    runpy.run_module("bpfscope.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
