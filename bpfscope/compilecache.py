"""A disk cache of compiled scripts, so that running the same script again
skips parsing, analysis and code generation (issue 18 point 2).

The key is a SHA-256 of everything the compile reads:

- the script's text and name, its positional and named parameters and the
  config the command line gives;
- the environment variables bpftrace and bpfscope read
  (``BPFTRACE_*``, ``BPFSCOPE_*``);
- the kernel as it runs now: the boot id (a new boot, kernel build or
  KASLR offset gives a new key), /proc/modules (a module loaded or
  unloaded changes functions, tracepoints and BTF), the dynamic trace
  events (kprobe and uprobe events made in tracefs), the CPU count and the
  memory size (``ncpus``, the ring buffer's size), the effective uid;
- bpfscope itself: the path, size and mtime of each of its modules, and
  the Python version (the pickle format).

Only scripts whose probes are kernel probes (tracepoint, rawtracepoint,
kprobe, fentry, profile, interval, software, hardware, BEGIN/END) are
stored, none whose programs load with an fd this process opened (a
module's BTF), and none that reads something else of the host at compile time or
embeds the compile's time: uprobes and USDT (their binaries), ``-p``/
``-c`` (a process), ``import``, ``cgroupid()`` (a cgroup's inode),
``elapsed`` (the compile's clock). Anything else compiles as before.

The files live in $XDG_CACHE_HOME/bpfscope/compile, a directory checked as
bpfscope.cachedir checks its own (ours, writable by no one else, opened
without following links); a file is loaded only when it is ours, regular,
and its first line is the key it was stored under. At most ``KEEP``
scripts are kept; the oldest go first. Every failure means no cache.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys

from . import cachedir

SUB = "compile"
KEEP = 64
LIMIT = 64 << 20  # bytes of one cached script at most
KERNEL_PROVIDERS = {"tracepoint", "rawtracepoint", "kprobe", "kretprobe", "fentry", "fexit",
                    "profile", "interval", "software", "hardware", "BEGIN", "END"}
# words of a script that make its compile read the host or the clock
UNCACHED_WORDS = ("import", "#include", "cgroupid", "elapsed", "uaddr")


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _code_stamp() -> list:
    """(path, size, mtime) of each of bpfscope's .py and .bt files, in a
    fixed order. scandir, not os.walk and relpath: this runs on every
    cached start, and those cost several milliseconds for ~250 files."""
    out = []

    def walk(d: str, rel: str) -> None:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if e.name != "__pycache__":
                    walk(e.path, rel + e.name + "/")
            elif e.name.endswith((".py", ".bt")):
                st = e.stat()
                out.append((rel + e.name, st.st_size, st.st_mtime_ns))

    walk(os.path.dirname(os.path.abspath(__file__)), "")
    return out


def key(text: str, name: str, params, config, named) -> str | None:
    """The cache key of a compile, or None when it is not to be cached."""
    if any(w in text for w in UNCACHED_WORDS):
        return None
    mem = _read("/proc/meminfo").split(b"\n", 1)[0]
    h = hashlib.sha256()
    for part in (sys.version, text, name, list(params), sorted((config or {}).items()),
                 sorted((named or {}).items()),
                 sorted((k, v) for k, v in os.environ.items()
                        if k.startswith(("BPFTRACE_", "BPFSCOPE_"))),
                 _read("/proc/sys/kernel/random/boot_id"), _read("/proc/modules"),
                 _read("/sys/kernel/tracing/dynamic_events"), mem, os.cpu_count(),
                 os.geteuid(), _code_stamp()):
        h.update(repr(part).encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def cacheable(script) -> bool:
    """Whether a compiled script may be stored: kernel probes only, and no
    probe whose load holds an fd of this process (a module's BTF for
    fentry and tp_btf probes of module functions)."""
    return all(ps.probe.provider in KERNEL_PROVIDERS
               and not any(k.endswith("_fd") for k in (ps.probe.load or {}))
               for ps in script.programs)


def load(k: str, directory: str | None = None):
    """The script stored under key ``k``, or None."""
    dfd = cachedir.open_dir(SUB, directory, create=False)
    if dfd is None:
        return None
    try:
        blob = cachedir.read_own_file(dfd, k, LIMIT)
    finally:
        os.close(dfd)
    head = k.encode() + b"\n"
    if not blob or not blob.startswith(head):
        return None
    try:
        return pickle.loads(memoryview(blob)[len(head):])
    except Exception:  # an old or broken file is no cache, and no error
        return None


def store(k: str, script, directory: str | None = None) -> bool:
    """Store ``script`` under ``k``; False (and no exception) on failure."""
    if not cacheable(script):
        return False
    try:
        data = pickle.dumps(script, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return False
    if len(data) > LIMIT:
        return False
    dfd = cachedir.open_dir(SUB, directory, create=True)
    if dfd is None:
        return False
    try:
        if not cachedir.write_file(dfd, k, (k.encode() + b"\n", data)):
            return False
        _prune(dfd)
        return True
    except OSError:
        return False
    finally:
        os.close(dfd)


def _prune(dfd: int) -> None:
    """Keep the KEEP newest of our files (named by a key) in the directory."""
    entries = []
    for e in os.listdir(dfd):
        if len(e) != 64 or not all(c in "0123456789abcdef" for c in e):
            continue
        try:
            st = os.stat(e, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid == os.geteuid():
            entries.append((st.st_mtime_ns, e))
    for _, e in sorted(entries)[:-KEEP]:
        try:
            os.unlink(e, dir_fd=dfd)
        except OSError:
            pass
