"""CLI runs for the guest tests without a new Python each time.

Under emulation a new ``python -m bpfscope.cli`` spends seconds importing
bpfscope before it does anything. The zygote is a process forked from the
guest's pytest before any test ran, that imports bpfscope.cli once and
then forks one child per CLI run: the child starts with the modules
loaded but nothing run (no cache filled, no probe attached, no feature
probed, as the zygote never calls bpfscope), sets the test's environment,
working directory and output files, and runs ``cli.main`` as ``python -m
bpfscope.cli`` would. Each run is still its own process, so exit codes,
signals and what a run leaves behind are as with a new Python.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection, Pipe


class CliZygote:
    def __init__(self, cwd: str):
        self.cwd = cwd
        self._conn, theirs = Pipe()
        self.pid = os.fork()
        if self.pid == 0:
            self._conn.close()
            self._serve(theirs)     # never returns
        theirs.close()

    # -- in the zygote ------------------------------------------------------

    def _serve(self, conn: Connection) -> None:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            import bpfscope.cli  # noqa: F401 - the point of the zygote
            while True:
                try:
                    args, env, out, err = conn.recv()
                except EOFError:
                    break
                pid = os.fork()
                if pid == 0:
                    conn.close()
                    self._child(args, env, out, err)
                conn.send(pid)
                _, status = os.waitpid(pid, 0)
                conn.send(os.waitstatus_to_exitcode(status))
        finally:
            os._exit(0)

    def _child(self, args, env, out, err) -> None:
        code = 1
        try:
            os.chdir(self.cwd)
            os.environ.clear()
            os.environ.update(env)
            fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(fd, 0)
            os.dup2(os.open(out, os.O_WRONLY), 1)
            os.dup2(os.open(err, os.O_WRONLY), 2)
            sys.stdin = open(0, closefd=False)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            sys.argv = [sys.executable, *args]
            from bpfscope import cli
            try:
                code = cli.main(list(args))
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - shown as a traceback would be
            import traceback
            traceback.print_exc()
        finally:
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except Exception:  # noqa: BLE001 - a closed pipe: nothing to add
                    pass
            os._exit(code if isinstance(code, int) else 1)

    # -- in the test process ------------------------------------------------

    def run(self, args, timeout: float) -> subprocess.CompletedProcess:
        with tempfile.NamedTemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
            self._conn.send((list(args), dict(os.environ), out.name, err.name))
            pid = self._conn.recv()
            if not self._conn.poll(timeout):
                os.kill(pid, signal.SIGKILL)
                self._conn.recv()
                raise subprocess.TimeoutExpired(["bpfscope", *args], timeout)
            code = self._conn.recv()
            return subprocess.CompletedProcess(
                ["bpfscope", *args], code, open(out.name, errors="replace").read(),
                open(err.name, errors="replace").read())

    def close(self) -> None:
        self._conn.close()
        os.waitpid(self.pid, 0)
