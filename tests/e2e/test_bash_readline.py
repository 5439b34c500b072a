"""bash's readline, the classic uprobe demo: an interactive bash driven
through a pseudo-terminal types commands; uprobe/uretprobe on readline
see its prompt and each line it returns. readline may be linked into
bash or come from libreadline: the test probes wherever the symbol is."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time

import pytest

from bpfscope.elf import ElfError, SymbolTable, resolve_library


def readline_file() -> str | None:
    bash = shutil.which("bash")
    if bash is None:
        return None
    bash = os.path.realpath(bash)
    for path in (bash, resolve_library("libreadline", None)):
        if not path:
            continue
        try:
            if SymbolTable(path).lookup_one("readline") is not None:
                return path
        except ElfError:
            continue
    return None


@pytest.fixture(scope="module")
def rl(kernel) -> str:
    path = readline_file()
    if path is None:
        pytest.skip("bash has no readline symbol (in itself or libreadline)")
    return path


class Bash:
    """An interactive bash on a pty, without rc files, prompt 'rl> '."""

    def __init__(self):
        self.master, slave = pty.openpty()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb",
               "PS1": "rl> ", "HOME": "/tmp"}
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave,
                                     stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""
        self.wait_for(b"rl> ")

    def wait_for(self, text: bytes, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"bash never printed {text!r}: {self.seen!r}"
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    break

    def type(self, line: str):
        self.seen = b""  # wait_for looks at what comes after this line
        os.write(self.master, line.encode() + b"\r")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def test_uretprobe_readline_prints_typed_lines(e2e, rl):
    bash = Bash()
    try:
        # bash's own PS1 variable, read through uaddr() as in bpftrace's
        # documentation, where readline is linked into bash
        ps1 = ('printf("PS1 %s\\n", str(*uaddr("ps1_prompt")));'
               if SymbolTable(rl).lookup_one("ps1_prompt", functions_only=False) else "")
        t = e2e.Trace("-p", str(bash.proc.pid), "-e",
                      f'uprobe:{rl}:readline {{ printf("prompt %s\\n", str(arg0)); {ps1} }} '
                      f'uretprobe:{rl}:readline {{ printf("%s\\n", str(retval)); }}')
        # bash sat in readline before the probes were there: that call
        # ends without its return probe; the next one is seen whole
        bash.type("")
        bash.wait_for(b"rl> ")
        bash.type("echo one two")
        bash.wait_for(b"one two\r\nrl> ")
        bash.type("exit")
        assert bash.proc.wait(10) == 0
        out, err = t.finish()
    finally:
        bash.close()
    assert t.returncode == 0, err
    prompt = ["prompt rl> "] + (["PS1 rl> "] if ps1 else [])
    assert [line for line in out.splitlines() if line] == [
        *prompt, "echo one two", *prompt, "exit"]
