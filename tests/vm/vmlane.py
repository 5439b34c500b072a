"""The VM test lane: boot Debian's generic kernels under QEMU and run a command.

The development and CI machines run a kernel without kprobes, where fentry
attach fails. Debian's own generic kernels have both, with BTF, and boot
under QEMU's software emulation (TCG) in about two seconds. The lane boots
four of them (SERIES): bullseye's 5.10 (the oldest Debian still ships),
bookworm's 6.1 and 6.12, and the newest kernel in sid ("sid", 7.2 when this
was written). This module turns that into a test lane, in five steps:

1. ``ensure_packages``: qemu-system-x86, kmod, busybox-static, cpio, xz-utils
   and zstd, installed with apt-get when a tool is missing.
2. ``fetch_kernel_debs``: the newest ``linux-image-<series>...-amd64`` package
   that ``apt-cache search`` lists (the generic flavour: the cloud one has no
   9p), fetched with ``apt-get download`` into the cache, with the
   ``linux-binary``/``linux-modules``/``linux-base`` packages that hold its
   files since Debian 14. 6.1 and 6.12 come from the machine's apt sources;
   5.10 and sid from the lane's private sources list (SUITES: bullseye and
   sid on the machine's Debian mirror, lists in the lane's cache, passed to
   apt with ``-o Dir::Etc::sourcelist=...``), so the machine's apt
   configuration is never changed.
3. ``build_kit``: from the .deb, the uncompressed ``vmlinux`` (QEMU boots it
   directly through PVH, so the guest does not spend emulated time
   decompressing itself), and an initramfs written here in the newc cpio
   format: static busybox, the modules for virtio-9p and overlayfs (with
   their dependencies, read from each module's ``.modinfo``), and the init
   script of ``init_script``.
4. ``boot``: the host's ``/`` shared read-only over virtio-9p with a tmpfs
   overlay on top (guest writes are thrown away), proc, sys, dev, debugfs,
   tracefs and bpffs mounted, the command (base64 on the kernel command
   line) run as root by ``/bin/sh -c`` in the caller's working directory.
   Its output and exit code come back on the second serial port; the first
   one is the console, kept for diagnostics.
5. The pytest entry point is ``tests/vm/test_vm_lane.py``.

The cache (``$BPFSCOPE_VMLANE_CACHE``, else /var/cache/bpfscope-vmlane for
root, else ~/.cache/bpfscope-vmlane) holds ``apt/``, ``debs/`` and ``kits/<series>/``;
a kit found there is used without asking apt anything, so repeated runs
work offline, except that the "sid" kit is rebuilt when sid has a newer
kernel (``superseded``: the lane's lists are refreshed once they are a day
old, BPFSCOPE_VMLANE_REFRESH_HOURS; offline, the cached kit runs). Delete
a kit directory to rebuild it from the newest package.

Anything that keeps the lane from running raises ``LaneUnavailable`` with a
one-sentence reason. Run by hand::

    python3 tests/vm/vmlane.py kits
    python3 tests/vm/vmlane.py run --kernel 6.12 -- uname -r
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

SERIES = ("5.10", "6.1", "6.12", "sid")
# Kernels the machine's own apt sources may not list come through the lane's
# private sources list (cache_dir()/apt), never through the machine's. "sid"
# stands for the newest kernel in Debian unstable, whatever its version.
SUITES = {"5.10": "bullseye", "sid": "sid"}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
PACKAGES = ("qemu-system-x86", "kmod", "busybox-static", "cpio", "xz-utils", "zstd")
# tool -> the package that provides it; the lane needs the tool, not the name
TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
    "zstd": "zstd",
    "xz": "xz-utils",
    "cpio": "cpio",
    "kmod": "kmod",
    "dpkg-deb": "dpkg",
}
# What the init script needs to reach the host's root: virtio-pci is built
# into Debian's kernels, the rest are modules (dependencies come along).
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
EXIT_MARK = "vmlane-exit="
START_MARK = "vmlane-start="
FAILED = 125                      # exit code when the VM itself failed
CMDLINE_MAX = 2048                # x86 COMMAND_LINE_SIZE
BASE_CMDLINE = "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init"
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KIT_FORMAT = 1                    # bump when the kit layout changes


class LaneUnavailable(Exception):
    """The lane cannot run here; str() is a one-sentence reason."""


# --------------------------------------------------------------------------
# cache and packages

def cache_dir() -> Path:
    env = os.environ.get("BPFSCOPE_VMLANE_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/bpfscope-vmlane")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bpfscope-vmlane"


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock so two test runs do not build the same kit at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"{cmd[0]} timed out after {timeout:g} s")
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: {e.strerror}")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


_apt_updated = False


def _apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        _run(["apt-get", "update", "-qq"])
        _apt_updated = True


def ensure_packages() -> None:
    """Install the lane's packages when one of its tools is missing."""
    missing = missing_tools()
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise LaneUnavailable(f"{missing[0]} is missing and there is no apt-get to install it")
    if os.geteuid() != 0:
        raise LaneUnavailable(f"{missing[0]} is missing and only root can install "
                              f"{' '.join(PACKAGES)} with apt-get")
    _apt_update()
    r = _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES])
    missing = missing_tools()
    if missing:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise LaneUnavailable(f"{missing[0]} is missing and apt-get could not install it ({last})")


def kernel_package_name(series: str | None, names: list[str]) -> str | None:
    """The newest generic amd64 image of a series among package names (of
    any series for None).

    Debian names them ``linux-image-6.1.0-56-amd64`` and
    ``linux-image-6.12.117+deb12-amd64``; the -unsigned, -dbg, cloud and rt
    flavours and the meta-packages are left out.
    """
    ser = re.escape(series) if series else r"\d+\.\d+"
    pat = re.compile(r"linux-image-(" + ser + r")\.(\d+)(?:-(\d+)|\+deb(\d+))-amd64")
    best, best_key = None, None
    for name in names:
        m = pat.fullmatch(name.strip())
        if m:
            key = (*map(int, m.group(1).split(".")), int(m.group(2)), int(m.group(3) or 0))
            if best_key is None or key > best_key:
                best, best_key = name.strip(), key
    return best


def debian_mirror(sources: list[str]) -> str:
    """The Debian mirror the machine's apt sources use (one-line
    sources.list or deb822 .sources texts), else deb.debian.org."""
    for text in sources:
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("URIs:"):
                uris = line[5:].split()
            elif line.startswith("deb "):
                uris = [w for w in re.sub(r"\[[^]]*\]", " ", line).split()[1:2]]
            else:
                continue
            for uri in uris:
                if uri.rstrip("/").endswith("/debian") and "security" not in uri:
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def machine_sources() -> list[str]:
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.suffix in (".list", ".sources"):
            with contextlib.suppress(OSError):
                texts.append(p.read_text())
    return texts


def private_sources_list(mirror: str, suites) -> str:
    signed = f"[signed-by={KEYRING}] " if os.path.exists(KEYRING) else ""
    return "".join(f"deb {signed}{mirror} {suite} main\n" for suite in suites)


def apt_options(series: str) -> list[str]:
    """apt-get/apt-cache options: the lane's private sources, lists and
    package cache for the series that need them, nothing for the others."""
    if series not in SUITES:
        return []
    d = cache_dir() / "apt"
    return ["-o", f"Dir::Etc::sourcelist={d / 'sources.list'}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={d / 'lists'}", "-o", f"Dir::Cache={d / 'cache'}"]


_private_updated = False


def _private_apt_update() -> None:
    """Write the private sources list (the machine's mirror, the suites of
    SUITES) and fetch its package lists, once per process."""
    global _private_updated
    if _private_updated:
        return
    d = cache_dir() / "apt"
    for sub in ("lists/partial", "cache/archives/partial"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "sources.list").write_text(
        private_sources_list(debian_mirror(machine_sources()), sorted(set(SUITES.values()))))
    r = _run(["apt-get", *apt_options(next(iter(SUITES))), "update", "-qq"])
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise LaneUnavailable(f"apt-get update of the lane's own sources failed ({last})")
    _private_updated = True


def find_kernel_package(series: str) -> str:
    private = series in SUITES
    want = None if series == "sid" else series

    def search() -> str | None:
        r = _run(["apt-cache", *apt_options(series), "search", "--names-only",
                  "^linux-image-" + (re.escape(want) + r"\." if want else r"[0-9]")])
        return kernel_package_name(want, [ln.split(" - ")[0] for ln in r.stdout.splitlines()])
    if shutil.which("apt-cache") is None:
        raise LaneUnavailable(f"no kit for Linux {series} is cached and there is no apt-cache to find one")
    name = search() if not private or (cache_dir() / "apt/lists").is_dir() else None
    if name is None and os.geteuid() == 0:
        _private_apt_update() if private else _apt_update()
        name = search()
    if name is None:
        where = f" in Debian {SUITES[series]}" if private else ""
        raise LaneUnavailable(f"apt-cache lists no generic linux-image-{want or ''} package "
                              f"for amd64{where}")
    return name


def _download(series: str, name: str, debs: Path) -> Path:
    have = sorted(debs.glob(f"{name}_*_amd64.deb"))
    if have:
        return have[-1]
    r = _run(["apt-get", *apt_options(series), "download", "-qq", name], cwd=debs)
    have = sorted(debs.glob(f"{name}_*_amd64.deb"))
    if r.returncode != 0 or not have:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise LaneUnavailable(f"apt-get download {name} failed ({last})")
    return have[-1]


def split_image_parts(image: str, depends: str) -> list[str]:
    """The packages a split kernel image depends on that carry its release
    in their name: since Debian 14 ``linux-image-R`` holds no files and
    ``linux-binary-R`` (vmlinuz), ``linux-modules-R`` and ``linux-base-R``
    (config) do."""
    release = image.removeprefix("linux-image-")
    parts = []
    for alt in depends.split(","):
        name = alt.split("|")[0].split("(")[0].strip()
        if name != image and name.startswith("linux-") and name.endswith("-" + release):
            parts.append(name)
    return parts


def fetch_kernel_debs(series: str) -> list[Path]:
    """The kernel's .deb files, the image first, fetched into the cache.
    The private lists may be older than the mirror (sid moves daily): a
    failed download refreshes them and tries again, once."""
    try:
        return _fetch_kernel_debs(series)
    except LaneUnavailable:
        if series not in SUITES or _private_updated or os.geteuid() != 0:
            raise
        _private_apt_update()
        return _fetch_kernel_debs(series)


def _fetch_kernel_debs(series: str) -> list[Path]:
    name = find_kernel_package(series)
    debs = cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    image = _download(series, name, debs)
    r = _run(["dpkg-deb", "-f", str(image), "Depends"])
    return [image] + [_download(series, part, debs) for part in split_image_parts(name, r.stdout)]


# --------------------------------------------------------------------------
# kit pieces (pure functions, tested on the host without QEMU)

_COMPRESSED = ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x1f\x8b\x08", "gzip"))


def _decompress(kind: str, data: bytes) -> bytes:
    if kind == "xz":
        return lzma.LZMADecompressor().decompress(data)    # stops at the stream's end
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    r = subprocess.run(["zstd", "-qdc"], input=data, capture_output=True)
    return r.stdout                                        # trailing garbage only warns


def extract_vmlinux(vmlinuz: bytes) -> bytes:
    """The ELF kernel inside a bzImage: the first compressed stream that
    decompresses to an ELF file."""
    for magic, kind in _COMPRESSED:
        off = vmlinuz.find(magic)
        while off >= 0:
            try:
                out = _decompress(kind, vmlinuz[off:])
            except (lzma.LZMAError, zlib.error):
                out = b""
            if out[:4] == b"\x7fELF":
                return out
            off = vmlinuz.find(magic, off + 1)
    raise ValueError("no xz, zstd or gzip stream holding an ELF kernel in this vmlinuz")


def decompress_module(name: str, data: bytes) -> bytes:
    if name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if name.endswith(".ko.gz"):
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if name.endswith(".ko.zst"):
        return _decompress("zstd", data)
    return data


def module_name(path: str) -> str:
    """'kernel/net/9p/9pnet_virtio.ko.xz' -> '9pnet_virtio' (dashes as underscores)."""
    base = path.rsplit("/", 1)[-1]
    return base[:base.index(".ko")].replace("-", "_")


def module_depends(ko: bytes) -> list[str]:
    """The ``depends=`` entry of a module's .modinfo section."""
    m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko)
    if not m or not m.group(1):
        return []
    return [d.decode().replace("-", "_") for d in m.group(1).split(b",") if d]


def load_order(wanted, files: dict[str, str], builtin: set[str], read) -> list[str]:
    """Module files to insmod, dependencies first.

    ``files`` maps module names to file paths, ``builtin`` is the set of
    built-in module names, ``read(path)`` gives a module's uncompressed bytes.
    """
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in seen or name in builtin:
            return
        if name in chain:
            raise ValueError(f"module dependency cycle: {' -> '.join(chain + (name,))}")
        if name not in files:
            raise ValueError(f"module {name} is neither built in nor in the package")
        for dep in module_depends(read(files[name])):
            visit(dep, chain + (name,))
        seen.add(name)
        order.append(files[name])

    for w in wanted:
        visit(w, ())
    return order


def newc_archive(entries) -> bytes:
    """A cpio archive in the kernel's initramfs ("newc") format.

    ``entries`` are ``(path, mode, data_or_rdev)``: bytes for a regular
    file, None for a directory, an ``(major, minor)`` pair for a device node.
    """
    out = bytearray()

    def pad():
        out.extend(b"\0" * (-len(out) % 4))

    def put(ino, name, mode, data=b"", rdev=(0, 0)):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data),
                  0, 0, rdev[0], rdev[1], len(nb), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(nb)
        pad()
        out.extend(data)
        pad()

    for ino, (path, mode, payload) in enumerate(entries, 1):
        if isinstance(payload, (bytes, bytearray)):
            put(ino, path, mode, bytes(payload))
        elif isinstance(payload, tuple):
            put(ino, path, mode, rdev=payload)
        else:
            put(ino, path, mode)
    put(0, "TRAILER!!!", 0)
    return bytes(out)


def read_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """{path: (mode, data)} of a newc archive (the tests' reader)."""
    files, off = {}, 0
    while True:
        hdr = data[off:off + 110]
        if hdr[:6] != b"070701":
            raise ValueError(f"bad cpio magic at {off}")
        f = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        off += 110
        name = data[off:off + namesize - 1].decode()
        off += namesize + (-(110 + namesize) % 4)
        body = data[off:off + size]
        off += size + (-size % 4)
        if name == "TRAILER!!!":
            return files
        files[name] = (mode, body)


def init_script() -> str:
    """The initramfs's /init, run by static busybox as PID 1.

    It mounts the host's / (9p, read-only) under a tmpfs overlay, mounts the
    pseudo file systems a tracer needs, runs ``vmlane_cmd`` (base64) with
    ``/bin/sh -c`` in ``vmlane_cwd`` (base64) and writes its output, then a
    ``vmlane-exit=N`` line, to the second serial port; then powers off.
    """
    return f"""#!/bin/busybox sh
# bpfscope VM lane init, generated by tests/vm/vmlane.py
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
die() {{
    echo "vmlane-init: $*"
    $B dmesg | $B tail -n 30
    echo "{EXIT_MARK}{FAILED}" > /dev/ttyS1
    $B poweroff -f
}}
for m in $($B cat /modules/order); do
    $B insmod /modules/$m || die "insmod $m failed"
done
for w in $($B cat /proc/cmdline); do
    case "$w" in
        vmlane_cmd=*) CMD=$(echo "${{w#vmlane_cmd=}}" | $B base64 -d) ;;
        vmlane_cwd=*) CWD=$(echo "${{w#vmlane_cwd=}}" | $B base64 -d) ;;
    esac
done
$B mkdir -p /lower /rw /root
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower \\
    || die "mounting the host's / over 9p failed"
$B mount -t tmpfs -o size=75% tmpfs /rw && $B mkdir -p /rw/upper /rw/work
$B mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /root \\
    || die "the overlay mount failed"
R=/root
$B mount -t proc proc $R/proc
$B mount -t sysfs sysfs $R/sys
$B mount -t devtmpfs devtmpfs $R/dev
$B mount -t tmpfs tmpfs $R/run
$B mount -t debugfs debugfs $R/sys/kernel/debug
$B mount -t tracefs tracefs $R/sys/kernel/tracing
$B mount -t bpf bpf $R/sys/fs/bpf
echo "{START_MARK}$($B cut -d' ' -f1 /proc/uptime)"
$B env -i PATH={GUEST_PATH} HOME=/root TERM=dumb LANG=C.UTF-8 \\
    BPFSCOPE_VMLANE_GUEST=$($B uname -r) \\
    $B chroot $R /bin/sh -c 'cd "$1" || exit 125; exec /bin/sh -c "$2"' vmlane "${{CWD:-/}}" "$CMD" \\
    > /dev/ttyS1 2>&1 < /dev/null
echo "{EXIT_MARK}$?" > /dev/ttyS1
$B poweroff -f
"""


def kernel_cmdline(command: str, cwd: str) -> str:
    """The kernel command line that carries a command and its directory."""
    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()
    line = f"{BASE_CMDLINE} vmlane_cwd={b64(cwd)} vmlane_cmd={b64(command)}"
    if len(line) >= CMDLINE_MAX:
        raise ValueError(f"command too long for the kernel command line ({len(line)} of "
                         f"{CMDLINE_MAX - 1} bytes); put it in a script file")
    return line


def parse_output(raw: bytes) -> tuple[int | None, str]:
    """(exit code or None, output) from what the second serial port got."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    lines = text.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(EXIT_MARK):
            code = lines[i][len(EXIT_MARK):].strip()
            if code.isdigit():
                return int(code), "\n".join(lines[:i]) + ("\n" if i else "")
    return None, text


def is_static_elf(data: bytes) -> bool:
    """True for an ELF64 executable without a PT_INTERP program header."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3
               for i in range(phnum))


# --------------------------------------------------------------------------
# kits

@dataclass
class Kit:
    series: str
    path: Path
    kver: str

    @property
    def vmlinux(self) -> Path:
        return self.path / "vmlinux"

    @property
    def initramfs(self) -> Path:
        return self.path / "initramfs.cpio"


def kit_stamp() -> str:
    """Changes when what goes into a kit changes, so stale kits get rebuilt."""
    h = hashlib.sha256(f"{KIT_FORMAT}\n{MODULES}\n{init_script()}".encode())
    return h.hexdigest()[:16]


def build_kit(debs: list[Path], kitdir: Path, series: str) -> Kit:
    busybox = shutil.which("busybox")
    if busybox is None:
        raise LaneUnavailable("busybox is missing")
    bb = Path(busybox).read_bytes()
    if not is_static_elf(bb):
        raise LaneUnavailable(f"{busybox} is not statically linked (install busybox-static)")
    tmp = Path(tempfile.mkdtemp(prefix="kit.", dir=kitdir.parent))
    try:
        x = tmp / "x"
        for deb in debs:
            r = _run(["dpkg-deb", "-x", str(deb), str(x)])
            if r.returncode != 0:
                raise LaneUnavailable(f"dpkg-deb could not unpack {deb.name} ({r.stderr.strip()})")
        modroot = x / "lib/modules" if (x / "lib/modules").is_dir() else x / "usr/lib/modules"
        kver = sorted(p.name for p in modroot.iterdir())[0]
        mdir = modroot / kver

        def boot_file(name: str) -> Path:
            # /boot/NAME-R up to Debian 13, /usr/lib/modules/R/NAME after
            old = x / "boot" / f"{name}-{kver}"
            return old if old.exists() else mdir / name
        vmlinux = extract_vmlinux(boot_file("vmlinuz").read_bytes())
        files = {module_name(str(p)): p for p in (mdir / "kernel").rglob("*.ko*")}
        builtin = set()
        if (mdir / "modules.builtin").exists():
            builtin = {module_name(ln) for ln in (mdir / "modules.builtin").read_text().split()}
        cache: dict[Path, bytes] = {}

        def read(p: Path) -> bytes:
            if p not in cache:
                cache[p] = decompress_module(p.name, p.read_bytes())
            return cache[p]

        order = load_order(MODULES, files, builtin, read)
        entries = [(d, 0o040755, None) for d in ("bin", "dev", "proc", "sys", "modules")]
        entries += [("dev/console", 0o020600, (5, 1)),
                    ("bin/busybox", 0o100755, bb),
                    ("init", 0o100755, init_script().encode())]
        names = []
        for p in order:
            name = module_name(str(p)) + ".ko"
            names.append(name)
            entries.append((f"modules/{name}", 0o100644, read(p)))
        entries.append(("modules/order", 0o100644, ("\n".join(names) + "\n").encode()))
        out = tmp / "kit"
        out.mkdir()
        (out / "vmlinux").write_bytes(vmlinux)
        (out / "initramfs.cpio").write_bytes(newc_archive(entries))
        shutil.copy(boot_file("config"), out / "config")
        (out / "kver").write_text(kver + "\n")
        (out / "deb").write_text("".join(deb.name + "\n" for deb in debs))
        (out / "stamp").write_text(kit_stamp() + "\n")
        if kitdir.exists():
            shutil.rmtree(kitdir)
        out.rename(kitdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Kit(series, kitdir, kver)


def cached_kit(series: str) -> Kit | None:
    d = cache_dir() / "kits" / series
    try:
        if (d / "stamp").read_text().strip() == kit_stamp() and (d / "vmlinux").exists():
            return Kit(series, d, (d / "kver").read_text().strip())
    except OSError:
        pass
    return None


# A "sid" kit is checked against the newest kernel in sid when the lane's
# package lists are older than this (sid gets a new kernel every few weeks)
REFRESH_SECONDS = float(os.environ.get("BPFSCOPE_VMLANE_REFRESH_HOURS", "24")) * 3600


def kit_image(kit: Kit) -> str:
    """The name of the linux-image package a kit was built from."""
    try:
        return (kit.path / "deb").read_text().split("\n", 1)[0].split("_", 1)[0]
    except OSError:
        return ""


def superseded(kit: Kit, now: float | None = None) -> bool:
    """Whether a newer kernel than the kit's is in Debian for the moving
    series ("sid"): its package lists are refreshed when older than
    REFRESH_SECONDS (as root), and a failure to (offline) keeps the kit."""
    if kit.series != "sid" or os.geteuid() != 0:
        return False
    lists = cache_dir() / "apt" / "lists"
    now = time.time() if now is None else now
    try:
        if now - lists.stat().st_mtime >= REFRESH_SECONDS:
            _private_apt_update()
            os.utime(lists)
        name = find_kernel_package(kit.series)
    except (LaneUnavailable, OSError):
        return False
    return name != kit_image(kit)


def ensure_kit(series: str) -> Kit:
    """A bootable kit for a kernel series, from the cache or built now;
    the "sid" kit is rebuilt when sid has a newer kernel (superseded)."""
    kit = cached_kit(series)
    if kit and not superseded(kit):
        return kit
    kits = cache_dir() / "kits"
    try:
        kits.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LaneUnavailable(f"cannot create the lane's cache {kits} ({e.strerror})") from None
    with _locked(kits / f".{series}.lock"):
        newer = kit is not None
        kit = cached_kit(series)
        if kit and not newer:
            return kit
        try:
            return _build_newest(series, kits / series)
        except LaneUnavailable:
            if kit:        # the newer one cannot be had: the cached one
                return kit
            raise


def _build_newest(series: str, kitdir: Path) -> Kit:
    debs = fetch_kernel_debs(series)
    try:
        return build_kit(debs, kitdir, series)
    except (ValueError, OSError) as e:
        raise LaneUnavailable(f"no kit could be built from {debs[0].name} ({e})") from None


# --------------------------------------------------------------------------
# booting

@dataclass
class BootResult:
    exit_code: int        # the command's, or FAILED (125) when the VM failed
    output: str           # the command's stdout and stderr, interleaved
    console: str          # the kernel console (ttyS0)
    seconds: float        # wall time of the whole boot
    start: float | None   # guest uptime when the command started
    error: str | None     # why the VM failed, None when the command ran


def qemu_argv(kit: Kit, cmdline: str, console: Path, output: Path,
              cpus: int = 1, mem: str = "2G") -> list[str]:
    return ["qemu-system-x86_64", "-M", "pc", "-accel", "tcg,thread=multi", "-cpu", "max",
            "-smp", str(cpus), "-m", mem, "-display", "none", "-monitor", "none",
            "-nodefaults", "-no-reboot",
            "-kernel", str(kit.vmlinux), "-initrd", str(kit.initramfs), "-append", cmdline,
            "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
            "-serial", f"file:{console}", "-serial", f"file:{output}"]


def boot(kit: Kit, command: str, cwd: str | None = None, timeout: float = 300,
         cpus: int | None = None) -> BootResult:
    """Boot ``kit``, run ``command`` (a shell command line) as root in
    ``cwd`` (default: ours) inside it, and return what it did."""
    cwd = os.path.abspath(cwd or os.getcwd())
    cmdline = kernel_cmdline(command, cwd)
    # One vCPU: on a 2-core host it leaves a core to QEMU's 9p server, and
    # boots measured steadier and faster than with two.
    cpus = cpus or int(os.environ.get("BPFSCOPE_VMLANE_CPUS", "0")) or 1
    with tempfile.TemporaryDirectory(prefix="vmlane.") as tmp:
        console, output = Path(tmp, "console"), Path(tmp, "output")
        argv = qemu_argv(kit, cmdline, console, output, cpus=cpus)
        t0 = time.monotonic()
        error = None
        try:
            q = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
            if q.returncode != 0:
                error = f"qemu exited with {q.returncode}: " + (q.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            error = f"the VM did not finish within {timeout:g} s"
        except OSError as e:
            error = f"qemu-system-x86_64 could not start ({e.strerror})"
        seconds = time.monotonic() - t0
        raw = output.read_bytes() if output.exists() else b""
        con = console.read_bytes().decode("utf-8", "replace") if console.exists() else ""
    code, out = parse_output(raw)
    start = None
    m = re.search(re.escape(START_MARK) + r"([0-9.]+)", con)
    if m:
        start = float(m.group(1))
    if code is None:
        code = FAILED
        if error is None:
            error = "the guest powered off without reporting the command's exit code"
    elif code == FAILED and start is None and error is None:
        error = "the guest's init failed: " + _init_failure(con)
    return BootResult(code, out, con, seconds, start, error)


def _init_failure(console: str) -> str:
    for line in console.splitlines():
        if line.startswith("vmlane-init:"):
            return line[len("vmlane-init:"):].strip()
    return "no reason on the console"


def save_console(result: BootResult, name: str) -> Path:
    """Keep a failed boot's console where a developer can read it."""
    logs = cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    p = logs / f"{name}.console"
    p.write_text(result.console)
    return p


# --------------------------------------------------------------------------
# command line

def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="vmlane", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("kits", help="ensure packages and kits, list them")
    run = sub.add_parser("run", help="boot a kernel and run a shell command in it")
    run.add_argument("--kernel", default=SERIES[0], choices=SERIES)
    run.add_argument("--timeout", type=float, default=300)
    run.add_argument("command", nargs="+")
    a = ap.parse_args(argv)
    try:
        ensure_packages()
        if a.what == "kits":
            for s in SERIES:
                k = ensure_kit(s)
                print(f"{s}: {k.kver} in {k.path}")
            return 0
        kit = ensure_kit(a.kernel)
    except LaneUnavailable as e:
        print(f"vmlane: {e}", file=sys.stderr)
        return FAILED
    r = boot(kit, " ".join(a.command), timeout=a.timeout)
    sys.stdout.write(r.output)
    if r.error:
        print(f"vmlane: {r.error} (console: {save_console(r, kit.kver)})", file=sys.stderr)
    print(f"vmlane: {kit.kver}: exit {r.exit_code} after {r.seconds:.1f} s"
          + (f" (command started at guest uptime {r.start:.1f} s)" if r.start else ""),
          file=sys.stderr)
    return r.exit_code


if __name__ == "__main__":
    sys.exit(main())
