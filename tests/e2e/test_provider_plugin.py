"""A probe type added from outside bpfscope: a toy provider defined here,
registered, and used by a script that runs end to end (compile, load,
attach, an event this test causes, output, cleanup), with no other module
touched. It is ``syscall:NAME``, the entry of one system call, attached
through the existing tracepoint mechanism (syscalls:sys_enter_NAME) under
a new name and an alias of its own."""

from __future__ import annotations

import io
import os

import pytest

from bpfscope import api
from bpfscope.attach import perfattach, providers, tracefs
from bpfscope.attach.provider import Provider
from bpfscope.attach.tracepoint_args import typed_args
from bpfscope.bpf import perf
from bpfscope.bpf.consts import PerfType
from bpfscope.errors import SemanticError
from bpfscope.output.text import TextOutput
from bpfscope.sema.probes import RECORD, ExpandedProbe

pytestmark = pytest.mark.usefixtures("kernel")  # root: tracefs and bpf(2)


class Syscall(Provider):
    names = ("syscall",)
    aliases = {"sc": "syscall"}
    prog_type = "tracepoint"

    def expand(self, ap, provider, options):
        if len(ap.parts) != 2:
            raise SemanticError("syscall probes take one system call name", ap.span)
        out = []
        for cat, name in tracefs.expand("syscalls", "sys_enter_" + ap.parts[1]):
            fmt = tracefs.read_format(cat, name)
            call = name[len("sys_enter_"):]
            out.append(ExpandedProbe("syscall", f"syscall:{call}", (fmt.id,), typed_args(fmt),
                                     ap.span, func=call, layout=RECORD))
        if not out:
            raise SemanticError(f"no system call matches {ap.parts[1]}", ap.span)
        return out

    def attach(self, probe, prog_fd):
        pfd = perf.perf_event_open(PerfType.TRACEPOINT, probe.target[0], pid=-1, cpu=0)
        return perfattach.attach_to_perf_event(prog_fd, pfd)

    def list(self, pattern, verbose, options):
        glob = "syscalls:sys_enter_" + pattern.split(":", 1)[1]
        return [f"syscall:{e.split(':', 1)[1][len('sys_enter_'):]}"
                for e in tracefs.list_tracepoints(glob)]

    def info(self):
        return [("syscall", "yes")]


@pytest.fixture
def syscall_provider():
    prov = Syscall()
    providers.register(prov)
    yield prov
    providers.unregister(prov)
    assert "syscall" not in providers.PROVIDERS and "sc" not in providers.ALIASES


def _have_syscall_tracepoints():
    return bool(tracefs.list_tracepoints("syscalls:sys_enter_getppid"))


def test_toy_provider_runs_end_to_end(no_leaks, syscall_provider):
    if not _have_syscall_tracepoints():
        pytest.skip("this kernel has no syscalls tracepoints (CONFIG_FTRACE_SYSCALLS)")
    script = api.compile_script(
        'sc:getppid /pid == $1/ { printf("%s %s %d\\n", probe, func, args.__syscall_nr); '
        '@calls = count(); exit(); }', params=(str(os.getpid()),))
    [ps] = script.programs
    assert (ps.probe.provider, ps.prog_type) == ("syscall", "tracepoint")
    out, err = io.StringIO(), io.StringIO()
    rc = api.run(script, TextOutput(out, err), duration=10, on_attached=os.getppid)
    assert rc == 0, err.getvalue()
    assert out.getvalue().startswith("syscall:getppid getppid 110\n")  # x86-64 getppid
    assert "@calls: 1" in out.getvalue()


def test_toy_provider_context_is_what_its_layout_says(syscall_provider):
    """sema reads the declared layout: a tracepoint record has args but no
    arg0 or retval."""
    if not _have_syscall_tracepoints():
        pytest.skip("this kernel has no syscalls tracepoints (CONFIG_FTRACE_SYSCALLS)")
    for text, message in (("syscall:getppid { print(arg0); }",
                           "The arg0 builtin can not be used with 'syscall' probes"),
                          ("syscall:getppid { print(retval); }",
                           "The retval builtin can not be used with 'syscall' probes")):
        with pytest.raises(SemanticError, match=message):
            api.compile_script(text)


def test_toy_provider_lists_and_reports(syscall_provider):
    if not _have_syscall_tracepoints():
        pytest.skip("this kernel has no syscalls tracepoints (CONFIG_FTRACE_SYSCALLS)")
    assert providers.listing("sc:getpp*") == ["syscall:getppid"]
    assert "  syscall: yes" in providers.info_lines()
