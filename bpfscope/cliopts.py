"""bpftrace's command line: the usage text, the option parser, and the
checks bpftrace's getopt loop makes on the options, in its words
(bpfscope.cli runs the command they describe)."""

from __future__ import annotations

import argparse
import sys

from .errors import BpfscopeError

USAGE = """\
USAGE:
    bpfscope [options] filename
    bpfscope [options] - <stdin input>
    bpfscope [options] -e 'program'
    use -- after filename/-e 'program' for named script parameters

OPTIONS:
    -e 'program'   execute this program
    -l, --list [search|filename]
                   list kernel probes or probes in a program
    -v, --verbose  enable verbose messages; with -l, also show probe arguments
                   (and full verifier logs, disassembly)
    -h, --help     show this help message
    -V, --version  print bpfscope's version
    --list-tools   list the tools bpfscope ships (also: bpfscope tools);
                   run one by name: bpfscope TOOL [options], TOOL -h for its help
    --info         print what the kernel and bpfscope support

    -p, --pid PID  filter actions and enable USDT probes on PID; uprobes only
                   fire in PID
    -c, --cmd CMD  run CMD and enable its pid for the trace; exit when it exits
    --dwarf-pid PID
                   accepted for bpftrace compatibility (dw_ustack() unwinds
                   the stacks of every process by their own DWARF)
    --usdt-file-activation
                   activate usdt semaphores based on file path
    --uprobe-inlined
                   also put uprobes on inlined copies of the function (DWARF)
    --debuginfo DIR  look for separate debug files (symbols, DWARF of stripped
                   programs) in DIR first, as under /usr/lib/debug: by
                   build-id, .gnu_debuglink or path; may be repeated

    -o, --output FILE
                   redirect program output to FILE
    -f FORMAT      output format ('text', 'json')
    -B MODE        output buffering mode ('line', 'full', 'none')
    -q, --quiet    keep messages quiet
    -k, --warnings emit a warning when probe read helpers return an error
    --no-warnings  disable all warning messages
    --flamegraph FILE, --folded FILE, --speedscope FILE, --pprof FILE
                   at exit, also write each map keyed by stacks as an SVG
                   flame graph, folded stacks, speedscope JSON or gzip pprof
    --serve ADDR   serve the maps of the scripts (-e, files, directories) as
                   Prometheus metrics at http://ADDR/metrics (ADDR: PORT or
                   HOST:PORT; the host is 127.0.0.1 unless given);
                   --serve-max-series N: at most N series a map (1000)

    -I DIR         add the directory to the include search path
    --include FILE add an #include file before preprocessing
    --traceable-functions FILE
                   load the list of traceable kernel functions from FILE

    --unsafe       allow unsafe functions (system, signal)
    --no-feature FEATURE[,FEATURE]
                   disable use of detected features ('kprobe_multi',
                   'kprobe_session', 'uprobe_multi')

DEVELOPER OPTIONS:
    --mode MODE    'codegen' (compile only), 'format' (print the script);
                   'compiler-bench', 'bench' and 'test' are not supported yet
    --fmt          format the input script and print it (same as --mode format)
    --probe-filter REGEX
                   only run test: and bench: probes whose name matches REGEX

TROUBLESHOOTING OPTIONS:
    --dry-run      compile, print what -d asks for, but load nothing
    -d, --debug STAGE
                   print debug output to stderr ('all', 'ast', 'codegen',
                   'disasm'; comma separated)

Parameters of the script follow it (or -e): positional ones ($1, $2 ...)
and, after "--", named ones (--name=value, --flag) that getopt() reads.
"""

# bpftrace 0.26's -d stages; bpfscope prints the AST and the disassembly
DEBUG_STAGES = ("all", "ast", "types", "parse", "codegen", "codegen-opt", "dis", "disasm",
                "libbpf", "verifier", "verbose")
MODES = ("codegen", "compiler-bench", "bench", "test", "format")
FEATURES = ("kprobe_multi", "kprobe_session", "uprobe_multi")
PID_MAX = 0x400000  # bpftrace's sanity bound: the nominal maximum on 64-bit


class UsageError(Exception):
    """A bad command line, told as bpftrace's ``ERROR: USAGE: ...``."""


def parse_uint(text: str) -> int:
    """An unsigned integer as bpftrace reads numbers on the command line
    (0x, 0b and 0 prefixes, '_' separators, 1e3, C suffixes); ValueError
    with bpftrace's wording when it is none."""
    n = text.replace("_", "")
    base, digits = 10, n
    if len(n) >= 2 and n[:2].lower() == "0x":
        base, digits = 16, n[2:]
    elif len(n) >= 2 and n[:2].lower() == "0b":
        base, digits = 2, n[2:]
    elif len(n) >= 2 and n[0] == "0" and "0" <= n[1] <= "7":
        base, digits = 8, n[1:]
    alphabet = "0123456789abcdef"[:base]
    i = 0
    while i < len(digits) and digits[i].lower() in alphabet:
        i += 1
    if i == 0:
        raise ValueError(f"invalid integer: {text}")
    value, rest = int(digits[:i], base), digits[i:]
    if len(rest) >= 2 and rest[0] in "eE" and "1" <= rest[1] <= "9":
        if not 0 < value < 10:
            raise ValueError(f"coefficient part of scientific literal must be 1-9: {text}")
        j = 1
        while j < len(rest) and rest[j].isdigit():
            j += 1
        value, rest = value * 10 ** int(rest[1:j]), rest[j:]
    limits = {"": 2**64 - 1, "u": 2**32 - 1, "ul": 2**64 - 1, "ull": 2**64 - 1,
              "l": 2**63 - 1, "ll": 2**63 - 1}
    suffix = rest.lower() if set(rest) <= set("uUlL") else rest
    if suffix not in limits:
        raise ValueError(f"invalid trailing bytes: {text}")
    if value > limits[suffix]:
        raise ValueError(f"overflow error, maximum value is {limits[suffix]}: {text}")
    return value


def parse_pid(text: str) -> int:
    """-p/--pid/--dwarf-pid's value, with bpftrace's messages."""
    try:
        pid = parse_uint(text)
    except ValueError as e:
        raise BpfscopeError(f"Failed to parse pid: {e}") from None
    if pid > PID_MAX:
        raise BpfscopeError(f"Pid out of range: {pid}")
    return pid


def check_options(opts) -> None:
    """The checks bpftrace's getopt loop makes, in its words."""
    if opts.buffering is not None and opts.buffering not in ("line", "full", "none"):
        raise UsageError("-B must be either 'line', 'full', or 'none'.")
    for stage in ",".join(opts.debug or []).split(","):
        if stage and stage not in DEBUG_STAGES:
            raise UsageError(f"invalid option for -d: {stage}")
    for feature in ",".join(opts.no_feature or []).split(","):
        if feature and feature not in FEATURES:
            raise UsageError("--no-feature can only have values "
                             "'kprobe_multi,kprobe_session,uprobe_multi'.")
    if opts.warnings and opts.no_warnings:
        raise UsageError("-k, --warnings conflicts with --no-warnings")
    mode = None
    for flag in opts.modes or []:
        if flag.startswith("--mode="):
            value = flag[len("--mode="):]
            if value not in MODES:
                raise UsageError("--mode can only be 'codegen', 'compiler-bench', "
                                 "'bench', 'test' or 'format'.")
            mode = value
            continue
        if mode is not None:
            raise UsageError(f"{flag} conflicts with existing --mode")
        mode = {"--test": "test", "--bench": "bench", "--fmt": "format"}[flag]
    opts.mode = mode
    if opts.cmd and opts.pid_text is not None:
        raise UsageError("Cannot use both -c and -p.")
    if opts.probe_filter is not None:
        import re
        try:
            re.compile(opts.probe_filter)
        except re.error as e:
            raise UsageError(f"--probe-filter: invalid regular expression: {e}") from None


class _Mode(argparse.Action):
    """--mode MODE, --test, --bench, --fmt: kept in order, checked after."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest) or [])
        items.append(f"--mode={values}" if option_string == "--mode" else option_string)
        setattr(namespace, self.dest, items)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"ERROR: {message}\n{USAGE}")
        sys.exit(1)


def _parser() -> _Parser:
    p = _Parser(prog="bpfscope", add_help=False, usage=USAGE)
    p.add_argument("-e", dest="program")
    p.add_argument("-l", "--list", dest="list", nargs="?", const="*", default=None)
    p.add_argument("-d", "--debug", dest="debug", action="append")
    p.add_argument("-v", "--verbose", dest="verbose", action="store_true")
    p.add_argument("-q", "--quiet", dest="quiet", action="store_true")
    p.add_argument("-o", "--output", dest="output")
    p.add_argument("-f", dest="format", default="text")  # checked after compiling, as 0.26
    p.add_argument("-c", "--cmd", dest="cmd")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--unsafe", action="store_true")
    p.add_argument("-p", "--pid", dest="pid_text")
    p.add_argument("--dwarf-pid", dest="dwarf_pids", action="append")
    p.add_argument("-B", dest="buffering")
    p.add_argument("--info", action="store_true")
    p.add_argument("--no-warnings", action="store_true")
    p.add_argument("-k", "--warnings", dest="warnings", action="count")
    p.add_argument("--serve", metavar="ADDR")  # bpfscope.serve
    p.add_argument("--serve-max-series", type=int, metavar="N")
    p.add_argument("--mode", dest="modes", action=_Mode)
    for flag in ("--test", "--bench", "--fmt"):
        p.add_argument(flag, dest="modes", action=_Mode, nargs=0)
    p.add_argument("--probe-filter", metavar="REGEX")
    p.add_argument("--traceable-functions", metavar="FILE")
    p.add_argument("--aot", metavar="FILE")
    # accepted for bpftrace compatibility; nothing here needs them
    p.add_argument("-b", "--btf", action="store_true")  # BTF is always used
    p.add_argument("-I", action="append")
    p.add_argument("--include", action="append")
    p.add_argument("--usdt-file-activation", action="store_true")
    p.add_argument("--uprobe-inlined", action="store_true")
    p.add_argument("--debuginfo", action="append", metavar="DIR")
    p.add_argument("--no-feature", action="append")
    p.add_argument("--verify-llvm-ir", action="store_true")  # there is no LLVM
    p.add_argument("--emit-llvm", metavar="FILE")
    p.add_argument("--emit-elf", metavar="FILE")
    for fmt in ("flamegraph", "folded", "speedscope", "pprof"):
        p.add_argument(f"--{fmt}", metavar="FILE")
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-V", "--version", action="store_true")
    p.add_argument("--list-tools", action="store_true")
    p.add_argument("args", nargs="*")
    # what a tool with options sets (_tool_main): its name in messages, the
    # wrapper of the sink that lays out its maps
    p.set_defaults(program_name="stdin", wrap_sink=None)
    return p
