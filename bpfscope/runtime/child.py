"""The -c child: started before compiling, released once probes are attached;
and whether a -p process still runs.

bpftrace gives the child's pid to the script as ``cpid`` and must not let
the child run before every probe is attached, so the child is forked first
and waits on a pipe; :meth:`Child.release` lets it exec the command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal

from ..errors import BpfscopeError


def command_path(command: str) -> str | None:
    """The absolute path of the program a -c command line runs (None when
    it names none)."""
    argv = shlex.split(command)
    found = shutil.which(argv[0]) if argv else None
    return os.path.abspath(found) if found else None


def process_alive(pid: int) -> bool:
    """True while process pid runs (a zombie waiting to be reaped has
    ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


class Child:
    def __init__(self, command: str):
        argv = shlex.split(command)
        self.path = command_path(command)
        if self.path is None:
            # found before anything is loaded, like bpftrace's failure to fork
            raise BpfscopeError(f"Failed to run child command '{command}': "
                                f"{argv[0] if argv else '(empty)'}: command not found")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                os.close(w)
                go = os.read(r, 1)
                os.close(r)
                if go:
                    os.execvp(argv[0], argv)
            except OSError as e:
                os.write(2, f"ERROR: failed to run '{command}': {e.strerror}\n".encode())
                os._exit(127)
            os._exit(0)  # the tracer went away before attaching
        os.close(r)
        self.pid = pid
        self._gate = w
        self.status: int | None = None

    def release(self):
        """Let the child exec its command."""
        if self._gate is not None:
            os.write(self._gate, b"x")
            os.close(self._gate)
            self._gate = None

    def exited(self) -> bool:
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.status = 0
                return True
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def close(self):
        """Reap the child; one that never started just sees its pipe close."""
        if self._gate is not None:
            os.close(self._gate)
            self._gate = None
        if not self.exited():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.status = -1
