"""The ``bpfscope`` command: bpftrace's command line over bpfscope.api."""

from __future__ import annotations

from .startsignal import default_sigint

# the console script enters through bpfscope.launch; `python -m
# bpfscope.cli` and programs importing this module are covered here
with default_sigint():
    import functools
    import os
    import signal
    import sys

    from . import __version__, api
    from .errors import BpfscopeError, WarningLog, collecting
    from .sema.named_params import ProgramHelp, split_named
    from .cliopts import USAGE, UsageError, _parser, check_options, parse_pid
    # the probe listing (attach.providers), -c and -p (runtime.child) and
    # --debuginfo load their modules when used: a compile the cache holds
    # imports no more than it needs (issue 18)

class _QuietSink:
    """Wraps a sink to drop the 'Attached N probes' line under -q."""

    def __init__(self, inner):
        self.inner = inner

    def attached(self, n):
        pass

    def progress(self, line):
        pass

    def __getattr__(self, name):
        return getattr(self.inner, name)


TOOLS_DIR = os.path.join(os.path.dirname(__file__), "tools")


class _NoWarnings:
    """Wraps a sink to drop warnings (--no-warnings)."""

    def __init__(self, inner):
        self.inner = inner

    def warning(self, msg):
        pass

    def warning_at(self, text):
        pass

    def warnf(self, *args):
        pass

    def script_warning(self, w):
        if w.note:
            self.inner.script_warning(w)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _bundled_tool(path: str) -> str:
    """A script name that is not a file may name a tool shipped with
    bpfscope (offcputime, offwaketime.bt, ...)."""
    if os.path.exists(path) or os.sep in path:
        return path
    for name in (path, path + ".bt"):
        candidate = os.path.join(TOOLS_DIR, name)
        if os.path.isfile(candidate):
            return candidate
    return path


def _listing(pattern: str, verbose: bool = False, pid: int | None = None) -> int:
    from .attach import providers
    missing_file = "." in pattern and not any(c in pattern for c in ":*")
    if missing_file:
        sys.stderr.write(f"WARNING: It appears that '{pattern}' is a filename but the file "
                         f"does not exist. Treating '{pattern}' as a search pattern.\n")
    lines = providers.listing(pattern, verbose, providers.ProbeOptions(pid=pid))
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    # a script that is not there, and no probe of that name either: fail
    # (as bpftrace does), so `bpftrace -l typo.bt && ...` stops
    return 1 if missing_file and not lines else 0


def _read_script(path: str) -> str | None:
    """A script file's text; None (after bpftrace's error line) when it
    cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        sys.stderr.write(f"ERROR: failed to open file '{path}': {e.strerror}\n")
        return None


def _list_program(text: str, name: str, verbose: bool, pid: int | None) -> int:
    """-l with a program (-e or a file): each of its attach points listed
    as a pattern; BEGIN/END by their 0.26 names."""
    from .attach import providers
    lines = []
    options = providers.ProbeOptions(pid=pid)
    for ap in api.attach_points(text, name):
        if providers.run_once_name(ap) in ("begin", "end"):
            lines.append(ap.parts[0].lower())
        elif providers.run_once_name(ap):
            lines.append(":".join(ap.parts))
        else:
            lines += providers.listing(ap.raw, verbose, options)
    if lines:
        sys.stdout.write("\n".join(dict.fromkeys(lines)) + "\n")
    return 0


def _debug(script, stages: set[str]):
    """-d's stages: the AST as source; the programs' disassembly for the
    stages of code (bpfscope has no LLVM IR, and no separate verifier or
    libbpf logs: -v prints the verifier's)."""
    if stages & {"all", "ast", "parse", "types"}:
        from .lang.printer import to_source
        sys.stderr.write("AST:\n" + to_source(script.ast) + "\n")
    if stages & {"all", "codegen", "codegen-opt", "dis", "disasm", "verbose"}:
        for ps in script.programs:
            sys.stderr.write(f"\n{ps.name} ({ps.prog_type}, {ps.program.stack_size} bytes of stack):\n")
            sys.stderr.write(ps.program.disasm().rstrip("\n") + "\n")


def _std_streams() -> set[int]:
    """Put /dev/null on whichever of fds 0-2 the caller closed, so that no
    map or program fd takes that number (a printf would write into it) and
    the streams exist; returns the closed ones."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            got = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if got != fd:  # lower numbers were closed too and got theirs first
                os.dup2(got, fd)
                os.close(got)
    for fd in closed:
        name = ("stdin", "stdout", "stderr")[fd]
        setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        _raw_bytes(stream)
    return closed


def _raw_bytes(stream):
    """Bytes that are no UTF-8 (a script's, "\\xff" escapes, str() of
    kernel or user memory) pass through as they are, as in bpftrace, which
    writes and reads bytes: each is one surrogate in between (see
    lang.ast.raw_byte), whatever the locale."""
    try:
        stream.reconfigure(encoding="utf-8", errors="surrogateescape")
    except (AttributeError, ValueError):  # not a TextIOWrapper, or already read
        pass


class _SigPipe(BaseException):
    """SIGPIPE arrived; not an OSError, so that no ``except OSError`` on
    the way (a /proc read, say) takes it for its own failure."""


def _broken_pipe(signum, frame):
    # like a write to a pipe nobody reads: end the run (the session closes
    # everything on the way out), and only once
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    raise _SigPipe()


class _HangUp(BaseException):
    """SIGHUP arrived (as _SigPipe, not an exception a caller handles)."""


def _hung_up(signum, frame):
    # bpftrace leaves SIGHUP at its default action and dies at once; the
    # kernel objects go with its fds. bpfscope dies by it too, but first
    # unwinds: a tracefs kprobe event is not an fd and must be removed.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise _HangUp()


def _die_by(signum: int) -> int:
    """End the process by ``signum``'s default action (its exit status
    says which signal), as bpftrace ends by those it leaves alone."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # not reached


def _exit_paths(main):
    """Every way out of the command ends without a traceback: a reader
    that went away (EPIPE, SIGPIPE) ends the run quietly and, as bpftrace,
    by SIGPIPE once everything is detached; ^C before the session takes
    SIGINT over (parsing, compiling) ends by SIGINT, as bpftrace's default
    action does there, once the -c child is reaped."""
    @functools.wraps(main)
    def wrapper(argv=None):
        _CLOSED.update(_std_streams())
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = _Output(stdout, None)
        sys.stderr = _Output(stderr, None, fatal=False)
        old = signal.signal(signal.SIGPIPE, _broken_pipe)
        # under nohup (SIGHUP ignored when started) a hang-up stays ignored
        old_hup = signal.getsignal(signal.SIGHUP)
        hup = old_hup not in (signal.SIG_IGN, None)  # None: set outside Python
        if hup:
            signal.signal(signal.SIGHUP, _hung_up)
        try:
            code = main(argv)
            sys.stdout.flush()  # a pipe's buffer: EPIPE here, not at exit
            sys.stderr.flush()
            return code
        except BpfscopeError as e:  # stdout failed where main() does not catch it
            sys.stderr.write(e.format() + "\n")
            return 1
        except (BrokenPipeError, _SigPipe):
            pass
        except KeyboardInterrupt:
            return _die_by(signal.SIGINT)
        except _HangUp:
            return _die_by(signal.SIGHUP)  # what is buffered is lost, as bpftrace's
        finally:
            sys.stdout, sys.stderr = stdout, stderr
            signal.signal(signal.SIGPIPE, old)
            if hup:
                signal.signal(signal.SIGHUP, old_hup)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)  # what is still buffered goes nowhere
        os.dup2(null, 2)
        return _die_by(signal.SIGPIPE)
    return wrapper


_CLOSED: set[int] = set()  # the standard fds closed when bpfscope started


@_exit_paths
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "tools" and not os.path.exists("tools"):
        argv = ["--list-tools", *argv[1:]]
    if argv and not argv[0].startswith("-") and not os.path.exists(argv[0]):
        from . import toolcmds
        tool = toolcmds.find(argv[0])
        if tool is not None:
            return _tool_main(tool, argv[1:])
        if argv[1:] in (["-h"], ["--help"]) and toolcmds.bt_help(argv[0]) is not None:
            sys.stdout.write(toolcmds.bt_help(argv[0]))
            return 0
    # Like bpftrace (getopt), options may follow the script file; after
    # "--" everything is a parameter of the script: positional, or named
    # (--name=value) for the script's getopt() calls.
    after = []
    if "--" in argv:
        i = argv.index("--")
        argv, after = argv[:i], argv[i + 1:]
    if not argv and not after:  # as bpftrace: nothing asked, the usage on stderr
        sys.stderr.write(USAGE)
        return 1
    opts = _parser().parse_intermixed_args(argv)
    after, named = split_named(after)
    opts.args = list(opts.args) + after
    if opts.help:
        sys.stdout.write(USAGE)
        return 0
    if opts.version:
        sys.stdout.write(f"bpfscope v{__version__}\n")
        return 0
    try:
        check_options(opts)
    except UsageError as e:
        sys.stderr.write(f"ERROR: USAGE: {e}\n")
        if opts.cmd and opts.pid_text is not None:
            sys.stderr.write(USAGE)
        return 1
    _apply_features(opts)
    if opts.list_tools:
        from .toolcmds import listing
        sys.stdout.write(listing())
        return 0
    if opts.info:
        from .info import info_text
        sys.stdout.write(info_text())
        return 0
    try:
        opts.pid = parse_pid(opts.pid_text) if opts.pid_text is not None else None
        for text in opts.dwarf_pids or []:
            parse_pid(text)  # checked as 0.26 does; nothing here unwinds by DWARF
    except BpfscopeError as e:
        sys.stderr.write(e.format() + "\n")
        return 1
    if opts.aot is not None:
        sys.stderr.write("ERROR: --aot is not supported: bpfscope compiles and loads "
                         "its programs itself, with no ahead-of-time build\n")
        return 1
    if opts.traceable_functions is not None:
        try:
            with open(opts.traceable_functions, "rb"):
                pass
        except OSError as e:
            sys.stderr.write("ERROR: Failed to open kernel function info: "
                             f"'{opts.traceable_functions}': {e.strerror}\n")
            return 1
    if opts.buffering:
        # line: flush each line (the default on a terminal), none: each write
        sys.stdout.reconfigure(line_buffering=opts.buffering != "full",
                               write_through=opts.buffering == "none")
    rest = list(opts.args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    # warnings outside a compile or a session (listing, start-up) go
    # straight to stderr; those have logs of their own
    with collecting(WarningLog(forward=lambda w: _show_warnings([w], opts))):
        return _main(opts, rest, named)


def _apply_features(opts) -> None:
    """--no-feature and --traceable-functions reach the providers through
    the environment they already read."""
    off = set(",".join(opts.no_feature or []).split(","))
    if "uprobe_multi" in off:
        os.environ["BPFSCOPE_NO_UPROBE_MULTI"] = "1"
    if off & {"kprobe_multi", "kprobe_session"}:
        from .attach import kprobe  # only then: its import is not free
        if "kprobe_multi" in off:
            os.environ[kprobe.NO_MULTI_ENV] = "1"
        if "kprobe_session" in off:
            os.environ[kprobe.NO_SESSION_ENV] = "1"
    if opts.traceable_functions is not None:
        from .attach import kfuncs
        os.environ[kfuncs.TRACEABLE_ENV] = os.path.abspath(opts.traceable_functions)


def _check_format(opts) -> bool:
    """-f's value, checked once the script compiled, as bpftrace 0.26 does."""
    if opts.format in ("text", "json"):
        return True
    sys.stderr.write(f'ERROR: Invalid output format "{opts.format}"\n'
                     "Valid formats: 'text', 'json'\n")
    return False


def _tool_main(tool, argv: list[str]) -> int:
    """``bpfscope TOOL ARGS``: the tool (bpfscope.toolcmds) parses its
    options and makes a script, which runs as a ``-e`` program would."""
    from .toolcmds.common import ToolError, ToolSink
    name = tool.__name__.rsplit(".", 1)[1]
    try:
        topts = tool.parser().parse_args(argv)
        plan = tool.build(topts)
        if plan.run is not None:
            return plan.run()
        args = ["-f", "json"] if plan.json else []
        if plan.pid is not None:
            args += ["-p", str(plan.pid)]
        if plan.cmd is not None:
            args += ["-c", plan.cmd]
        opts = _parser().parse_args(args)
        check_options(opts)  # what main() makes of the options, for the tool's own
        opts.pid = parse_pid(opts.pid_text) if opts.pid_text is not None else None
    except SystemExit as e:  # -h, or a usage error argparse printed
        return e.code if isinstance(e.code, int) else 1
    except (ToolError, UsageError) as e:
        sys.stderr.write(f"ERROR: {name}: {e}\n")
        return 1
    except BpfscopeError as e:
        sys.stderr.write(e.format() + "\n")
        return 1
    except BrokenPipeError:
        raise  # the reader went away (tplist | head): _exit_paths
    except OSError as e:  # a file the tool reads (a library, /proc) failed
        where = f" '{e.filename}'" if e.filename else ""
        sys.stderr.write(f"ERROR: {name}:{where} {e.strerror or e}\n")
        return 1
    opts.program, opts.program_name = plan.text, name
    opts.wrap_sink = lambda sink: ToolSink(sink, plan)
    with collecting(WarningLog(forward=lambda w: _show_warnings([w], opts))):
        return _main(opts, [], {})


def _main(opts, rest, named) -> int:
    try:
        if opts.debuginfo:
            bad = next((d for d in opts.debuginfo if not os.path.isdir(d)), None)
            if bad is not None:
                sys.stderr.write(f"ERROR: --debuginfo {bad}: no such directory\n")
                return 1
            from .elf.debugfile import set_search_dirs
            set_search_dirs(opts.debuginfo)
        if opts.list is not None:
            # -lv PATTERN parses as -l "v"; -l -v PATTERN leaves it in rest
            verbose = opts.verbose or opts.list == "v"
            pattern = opts.list if opts.list not in ("*", "v") else (rest[0] if rest else "*")
            if opts.program is not None:  # -l -e 'program': the probes it attaches
                return _list_program(opts.program, "stdin", verbose, opts.pid)
            if pattern != "*" and os.path.isfile(pattern):  # -l script.bt
                text = _read_script(pattern)
                if text is None:
                    return 1
                return _list_program(text, pattern, verbose, opts.pid)
            return _listing(pattern, verbose, opts.pid)
        if opts.serve is not None:  # a long-lived exporter of one or more scripts
            from .serve import serve_main
            return serve_main(opts, rest, named)
        if opts.program is not None:
            text, name = opts.program, opts.program_name
        elif rest:
            path = rest.pop(0)
            if path == "-":
                if 0 in _CLOSED:
                    sys.stderr.write("ERROR: failed to read the program from stdin: "
                                     "stdin is closed\n")
                    return 1
                text, name = sys.stdin.read(), "stdin"
            else:
                path = _bundled_tool(path)
                text = _read_script(path)
                if text is None:
                    return 1
                name = path
        else:
            sys.stderr.write("ERROR: USAGE: filename or -e 'program' required.\n")
            return 1
        if rest and rest[0] == "--":
            rest = rest[1:]
        if opts.mode == "format":  # parsing only: no privileges, no kernel
            formatted = api.format_script(text, name)
            if opts.output:
                try:
                    with open(opts.output, "w", encoding="utf-8", errors="surrogateescape") as f:
                        f.write(formatted)
                except OSError as e:
                    sys.stderr.write(f"ERROR: failed to open file '{opts.output}': "
                                     f"{e.strerror}\n")
                    return 1
            else:
                sys.stdout.write(formatted)
            return 0
        if opts.mode in ("compiler-bench", "test"):
            sys.stderr.write(f"ERROR: --mode {opts.mode} is not supported yet\n")
            return 1
        if not opts.dry_run:
            from .privileges import missing_privileges
            why = missing_privileges()
            if why:  # before compiling: that reads tracefs, which says less
                api.check_syntax(text, name)  # a syntax error is still told as one
                sys.stderr.write(f"ERROR: {why}\n")
                return 1
        if opts.pid is not None or opts.cmd:  # shutil (for which) is not free
            from .runtime.child import Child, command_path, process_alive
        if opts.pid is not None and not process_alive(opts.pid):
            sys.stderr.write(f"ERROR: -p {opts.pid}: no such process\n")
            return 1
        child = Child(opts.cmd) if opts.cmd and not opts.dry_run else None
        try:
            config = {"unsafe": 1} if opts.unsafe else {}
            if opts.warnings:  # bpftrace's -k: report helpers that failed at run time
                config["helper_check"] = 1
            config = config or None
            script = api.compile_script(text, name, params=rest, config=config,
                                        cpid=child.pid if child else (0 if opts.cmd else None),
                                        pid=opts.pid, uprobe_inlined=opts.uprobe_inlined,
                                        cmd=child.path if child else (
                                            command_path(opts.cmd) if opts.cmd else None),
                                        named=named, cache=True)
            stages = set(",".join(opts.debug or []).split(",")) - {""}
            if stages or opts.verbose:
                _debug(script, stages or {"disasm"})
            if opts.mode == "codegen":  # compiled: nothing is loaded
                _show_warnings(script.warnings, opts)
                return 0
            if not _check_format(opts):
                return 1
            if opts.dry_run:
                _show_warnings(script.warnings, opts)
                return 0
            return _run(script, opts, child)
        finally:
            if child is not None:
                child.close()
    except ProgramHelp as h:  # -- --help: the script's named parameters
        sys.stdout.write(h.message)
        return 0
    except BpfscopeError as e:
        sys.stdout.flush()
        _show_warnings(e.warnings, opts)
        sys.stderr.write(e.format() + "\n")
        return 1


class _Output:
    """The stream the trace's output goes to (stdout or -o's file). A write
    that fails other than by EPIPE (ENOSPC, EIO: a full disk, /dev/full)
    ends the run with one error line and exit 1; bpftrace's streams would
    drop the output and trace on. The fd is pointed at /dev/null first, so
    that what is still buffered cannot fail again at close or exit. On
    stderr (not ``fatal``) the messages are lost and the trace runs on, as
    bpftrace's std::cerr does."""

    def __init__(self, stream, path: str | None, fatal: bool = True):
        self.stream = stream
        self.path = path
        self.fatal = fatal

    def write(self, text: str):
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise  # the reader went away: _exit_paths
        except OSError as e:
            self._failed(e)

    def flush(self):
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            self._failed(e)

    def _failed(self, e: OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self.stream.fileno())
        os.close(null)
        if not self.fatal:
            return
        where = f'output file: "{self.path}"' if self.path else "stdout"
        raise BpfscopeError(f"Failed to write to {where}: {e.strerror}") from None

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _show_warnings(warnings, opts) -> None:
    """Warnings of a compile that runs nothing (an error, --dry-run)."""
    for w in warnings:
        if w.note or not opts.no_warnings:
            sys.stderr.write(w.format() + "\n")


NOTIFY_ATTACHED = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"


def _attached(child):
    """Every probe is attached: start the -c child, then, as bpftrace 0.26
    does for test harnesses and wrappers that wait for it, print the
    notify line on stdout (not in -o's file) when the environment asks."""
    if child:
        child.release()
    if os.environ.get(NOTIFY_ATTACHED) is not None:
        sys.stdout.write(NOTIFY_ATTACHED + "\n")
        sys.stdout.flush()


def _run(script, opts, child) -> int:
    from .output.json import JsonOutput
    from .output.text import TextOutput
    files = {fmt: getattr(opts, fmt) for fmt in ("flamegraph", "folded", "speedscope", "pprof")
             if getattr(opts, fmt)}
    if files:  # the writers of profiles load only when one is asked for
        from .output.stackfiles import ProfileFiles, check_writable
    # as bpftrace: output files are opened after compiling, before anything
    # is loaded or attached (profiles are written at exit, checked now)
    try:
        for path in files.values():
            check_writable(path)
        out = open(opts.output, "w", encoding="utf-8", errors="surrogateescape") \
            if opts.output else sys.stdout
    except OSError as e:
        sys.stderr.write(f'ERROR: Failed to open output file: "{e.filename}": {e.strerror}\n')
        return 1
    sink = (JsonOutput if opts.format == "json" else TextOutput)(
        _Output(out, opts.output) if opts.output else out, sys.stderr)
    if files:
        sink = ProfileFiles(sink, files)
    if opts.wrap_sink is not None:
        sink = opts.wrap_sink(sink)
    if opts.quiet:
        sink = _QuietSink(sink)
    if opts.no_warnings:
        sink = _NoWarnings(sink)
    should_stop = child.exited if child else None
    if child is None and opts.pid is not None:
        # like bpftrace: the trace of a -p process ends when it does
        from .runtime.child import process_alive
        should_stop = lambda: not process_alive(opts.pid)  # noqa: E731
    tool_done = getattr(sink, "tool_done", None)   # a tool's own end (trace -M)
    if tool_done is not None:
        outer = should_stop
        should_stop = lambda: tool_done() or bool(outer and outer())  # noqa: E731
    try:
        if not script.programs:
            _show_warnings(script.warnings, opts)  # the skipped probes, say
            # bpftrace 0.26 (BPFtrace::prerun): on stdout, not in -o's file
            if not opts.quiet:
                sys.stdout.write("No probes to attach\n")
            return 1
        return api.run(script, sink, verbose=opts.verbose,
                       on_attached=lambda: _attached(child),
                       should_stop=should_stop, mode=opts.mode,
                       probe_filter=opts.probe_filter)
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    sys.exit(main())
