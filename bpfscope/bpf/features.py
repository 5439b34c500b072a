"""What the running kernel supports, probed once and cached: each probe
creates a throwaway object and reports whether the kernel accepted it."""

from __future__ import annotations

import errno
import functools
import os
import re
import struct

from .consts import AttachType, MapType, PerfSwId, PerfType, ProgType
from .link import link_create, uprobe_multi_link
from .maps import BpfMap, has_batch_ops  # noqa: F401 - maps.py needs it itself
from .perf import PerfEventError, perf_event_open
from .prog import ProgLoadError, load_program
from .sys import BpfSyscallError, close_fd, page_size

# r0 = 0; exit
_RETURN_ZERO = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)


@functools.cache
def kernel_release() -> str:
    """The running kernel's release string (uname -r)."""
    return os.uname().release


@functools.cache
def has_ringbuf() -> bool:
    try:
        BpfMap.create(MapType.RINGBUF, 0, 0, page_size()).close()
    except BpfSyscallError:
        return False
    return True


@functools.cache
def has_link_perf_event() -> bool:
    """Whether BPF_LINK_CREATE can attach to a perf event (5.15+)."""
    try:
        prog = load_program(ProgType.PERF_EVENT, _RETURN_ZERO)
    except BpfSyscallError:
        return False
    try:
        pfd = perf_event_open(PerfType.SOFTWARE, PerfSwId.CPU_CLOCK,
                              sample_period=1_000_000_000, cpu=0, disabled=True)
    except PerfEventError:
        close_fd(prog)
        return False
    try:
        close_fd(link_create(prog, pfd, AttachType.PERF_EVENT))
        return True
    except BpfSyscallError:
        return False
    finally:
        close_fd(pfd)
        close_fd(prog)



def has_uprobe_multi() -> bool:
    """Whether uprobe_multi links work (Linux 6.6+);
    ``BPFSCOPE_NO_UPROBE_MULTI=1`` pretends they do not (tests of the
    one-perf-event-per-probe path)."""
    return os.environ.get("BPFSCOPE_NO_UPROBE_MULTI") != "1" and _uprobe_multi_works()


@functools.cache
def _uprobe_multi_works() -> bool:
    # A kernel that has them refuses "/" as the file (EBADF: no regular
    # file) after accepting the attach type; one that has not refuses the
    # attach type (EINVAL).
    try:
        prog = load_program(ProgType.KPROBE, _RETURN_ZERO,
                            expected_attach_type=AttachType.TRACE_UPROBE_MULTI)
    except BpfSyscallError:
        return False
    try:
        close_fd(uprobe_multi_link(prog, "/", [0], False))
        return True  # cannot happen; if it does, the kernel took it
    except BpfSyscallError as e:
        return e.errno == errno.EBADF
    finally:
        close_fd(prog)


# Helpers bpfscope may call that are younger than the ring buffer (Linux 5.8):
# id -> (name, the release that brought it, what of a script needs it).
HELPER_SINCE = {
    147: ("bpf_d_path", "5.10", "path()"),
    148: ("bpf_copy_from_user", "5.10", ""),
    153: ("bpf_per_cpu_ptr", "5.10", ""),
    154: ("bpf_this_cpu_ptr", "5.10", ""),
    158: ("bpf_get_current_task_btf", "5.11", ""),
    160: ("bpf_ktime_get_coarse_ns", "5.11", ""),
    164: ("bpf_for_each_map_elem", "5.13", "for ($kv : @map)"),
    165: ("bpf_snprintf", "5.13", ""),
    173: ("bpf_get_func_ip", "5.15", ""),
    174: ("bpf_get_attach_cookie", "5.15", ""),
    175: ("bpf_task_pt_regs", "5.15", ""),
    176: ("bpf_get_branch_snapshot", "5.16", ""),
    180: ("bpf_find_vma", "5.17", ""),
    181: ("bpf_loop", "5.17", "a for range whose bounds are not literals"),
    182: ("bpf_strncmp", "5.17", ""),
    183: ("bpf_get_func_arg", "5.17", ""),
    184: ("bpf_get_func_ret", "5.17", ""),
    185: ("bpf_get_func_arg_cnt", "5.17", ""),
    186: ("bpf_get_retval", "5.18", ""),
    195: ("bpf_map_lookup_percpu_elem", "5.19", "reading a per-CPU map (count(), sum() ...) in a probe"),
    208: ("bpf_ktime_get_tai_ns", "6.1", "nsecs(tai)"),
}

@functools.cache
def has_helper(helper_id: int) -> bool:
    """Whether the kernel knows helper ``helper_id`` at all: a socket filter
    calling it is refused with ``invalid func unknown#N`` only when it does
    not (any other refusal is about this program, not the helper)."""
    call = struct.pack("<BBhi", 0x85, 0, 0, helper_id)
    try:
        close_fd(load_program(ProgType.SOCKET_FILTER, call + _RETURN_ZERO))
    except ProgLoadError as e:
        return f"invalid func unknown#{helper_id}" not in e.log
    except BpfSyscallError:
        pass
    return True


def called_helpers(insns: bytes) -> list[int]:
    """The helper ids a program's instructions call, in order, once each."""
    ids: dict[int, None] = {}
    for off in range(0, len(insns) - 7, 8):
        code, regs, _, imm = struct.unpack_from("<BBhi", insns, off)
        if code == 0x85 and regs >> 4 == 0:     # BPF_CALL of a helper (src 0)
            ids.setdefault(imm)
    return list(ids)


def missing_helper_of(insns: bytes) -> str | None:
    """The first helper of HELPER_SINCE that the program calls and the
    kernel lacks, as missing_helper says it. Older verifiers may refuse
    such a program for another reason first (5.10 counts the callback of
    bpf_for_each_map_elem as no subprogram and complains about func_info),
    so the program is asked, not the log."""
    for hid in called_helpers(insns):
        if hid in HELPER_SINCE and not has_helper(hid):
            return missing_helper(f"invalid func unknown#{hid}")
    return None


_UNKNOWN_HELPER = re.compile(r"\binvalid func unknown#(\d+)"
                             r"|\b(?:unknown func|program of this type cannot use helper) (bpf_\w+)#(\d+)")


def missing_helper(log: str) -> str | None:
    """What the verifier's log says is missing, as a sentence naming the
    kernel release that brings it; None when the log is about something else.

    The verifier writes ``invalid func unknown#164`` for a helper id it has
    never heard of and ``unknown func bpf_x#N`` (``program of this type
    cannot use helper bpf_x#N`` since 6.x) for one it has that this program
    type may not call."""
    m = _UNKNOWN_HELPER.search(log)
    if not m:
        return None
    hid = int(m.group(1) or m.group(3))
    name, since, use = HELPER_SINCE.get(hid, (m.group(2) or f"helper #{hid}", "", ""))
    need = f" ({use} needs it)" if use else ""
    if m.group(1):
        when = f"; Linux {since} brings it" if since else ""
        return (f"this kernel (Linux {kernel_release()}) has no {name} helper{need}{when}")
    when = f" (Linux {since} has it)" if since else ""
    return f"this kernel (Linux {kernel_release()}) does not let this program type call {name}{need}{when}"


_HASH_MAPS = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                        MapType.LRU_PERCPU_HASH})
MAX_OLD_HASH_KEY = 512  # MAX_BPF_STACK: the hash map key limit before Linux 5.11


def map_create_hint(map_type: int, key_size: int, err: int) -> str | None:
    """Why the kernel refused a map bpfscope asked for, when a release
    tells: before Linux 5.11 a hash map key had to fit the BPF stack
    (E2BIG), so str() keys of the default max_strlen do not fit."""
    if err == errno.E2BIG and map_type in _HASH_MAPS and key_size > MAX_OLD_HASH_KEY:
        return (f"its keys are {key_size} bytes and this kernel (Linux {kernel_release()}) "
                f"takes hash map keys of at most {MAX_OLD_HASH_KEY} bytes (Linux 5.11 lifts "
                "the limit); shorten the key, e.g. a lower max_strlen, str(x, N) or kstack(N)")
    return None


# ------------------------------------------------------------ --info's rows

# Kernel functions (kfuncs) bpfscope calls where the kernel has them:
# name -> (the release that brought it, what of a script uses it)
KFUNC_SINCE = {
    "bpf_map_sum_elem_count": ("6.6", "len(@map)"),
    "bpf_session_is_return": ("6.10", "kprobe_session"),
    "bpf_strnstr": ("6.17", "strstr() of long strings"),
    "bpf_strnlen": ("6.17", "strlen()"),
}


@functools.cache
def has_big_hash_keys() -> bool:
    """Whether hash map keys may be over MAX_OLD_HASH_KEY bytes (5.11+)."""
    try:
        BpfMap.create(MapType.HASH, 2 * MAX_OLD_HASH_KEY, 8, 1).close()
    except BpfSyscallError:
        return False
    return True


@functools.cache
def perf_event_refusal(ptype: int, config: int = 0, breakpoint: bool = False) -> str | None:
    """None when the kernel opens a (disabled) perf event of ``ptype`` for
    this process, else its errno's name; ``breakpoint``: a write
    breakpoint on a variable of this process (hardware debug registers)."""
    import ctypes
    var = ctypes.c_long()
    kw = dict(bp_type=2, config1=ctypes.addressof(var), config2=8) if breakpoint else {}
    try:
        close_fd(perf_event_open(ptype, config, sample_period=1, pid=0, cpu=-1,
                                 disabled=True, **kw))
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return None


@functools.cache
def has_map_type(map_type: int) -> bool:
    """Whether the kernel creates a map of ``map_type`` (a small one)."""
    key, value, entries = 4, 8, 1
    if map_type == MapType.RINGBUF:
        key, value, entries = 0, 0, page_size()
    elif map_type == MapType.PERF_EVENT_ARRAY:
        value = 4
    try:
        BpfMap.create(map_type, key, value, entries).close()
    except BpfSyscallError:
        return False
    return True


@functools.cache
def has_prog_type(prog_type: int, expected_attach_type: int = 0) -> bool:
    """Whether the kernel loads a trivial program of ``prog_type`` (with
    ``expected_attach_type``)."""
    try:
        close_fd(load_program(prog_type, _RETURN_ZERO,
                              expected_attach_type=expected_attach_type))
    except BpfSyscallError:
        return False
    return True


@functools.cache
def has_raw_tp_special() -> bool:
    """Whether a raw_tracepoint program runs by BPF_PROG_TEST_RUN, the way
    BEGIN and END probes run (bpftrace's 'raw_tp_special')."""
    from .prog import prog_test_run
    try:
        fd = load_program(ProgType.RAW_TRACEPOINT, _RETURN_ZERO)
    except BpfSyscallError:
        return False
    try:
        prog_test_run(fd, ctx_in=b"\0" * 8)
        return True
    except (BpfSyscallError, OSError):
        return False
    finally:
        close_fd(fd)


def instruction_limit() -> int:
    """How many instructions the verifier walks per program: 1,000,000
    for a program root loads since Linux 5.2 (BPF_COMPLEXITY_LIMIT_INSNS),
    4,096 otherwise."""
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", kernel_release()).groups())
    privileged = os.geteuid() == 0
    return 1_000_000 if privileged and (major, minor) >= (5, 2) else 4096
