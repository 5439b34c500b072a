"""The lane's pieces that need no QEMU: package choice, vmlinux extraction,
module order, the initramfs archive, the init script, the command line and
the guest's report."""

from __future__ import annotations

import base64
import gzip
import lzma
import os
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import vmlane

ELF = b"\x7fELF" + bytes(60) + b"kernel text" * 100


def test_kernel_package_name_picks_newest_generic_image():
    names = ["linux-image-6.1.0-9-amd64", "linux-image-6.1.0-56-amd64",
             "linux-image-6.1.0-57-amd64-unsigned", "linux-image-6.1.0-60-cloud-amd64",
             "linux-image-6.1.0-60-rt-amd64", "linux-image-6.1.0-60-amd64-dbg",
             "linux-image-6.12.117+deb12-amd64", "linux-image-amd64"]
    assert vmlane.kernel_package_name("6.1", names) == "linux-image-6.1.0-56-amd64"
    names = ["linux-image-6.12.9+deb12-amd64", "linux-image-6.12.117+deb12-amd64",
             "linux-image-6.12.200+deb12-amd64-unsigned", "linux-image-6.12-amd64",
             "linux-image-6.12.117+deb12-cloud-amd64", "linux-image-6.1.0-56-amd64"]
    assert vmlane.kernel_package_name("6.12", names) == "linux-image-6.12.117+deb12-amd64"
    assert vmlane.kernel_package_name("6.12", ["linux-image-6.1.0-56-amd64"]) is None


def test_kernel_package_name_of_5_10_and_of_any_series():
    names = ["linux-image-5.10.0-30-amd64", "linux-image-5.10.0-32-amd64",
             "linux-image-5.10.0-32-cloud-amd64", "linux-image-5.10.0-32-amd64-unsigned",
             "linux-image-7.2.13+deb14-amd64", "linux-image-7.2.13+deb14-rt-amd64",
             "linux-image-7.10.1+deb14-amd64-dbg", "linux-image-6.18.9+deb14-amd64"]
    assert vmlane.kernel_package_name("5.10", names) == "linux-image-5.10.0-32-amd64"
    # None: the newest of every series, compared as numbers (7.2 > 6.18)
    assert vmlane.kernel_package_name(None, names) == "linux-image-7.2.13+deb14-amd64"
    assert vmlane.kernel_package_name(None, names + ["linux-image-7.10.1+deb14-amd64"]) == \
        "linux-image-7.10.1+deb14-amd64"


def test_debian_mirror_from_machine_sources():
    deb822 = ("Types: deb\n# http://snapshot.debian.org/archive/debian/2025\n"
              "URIs: http://mirror.example/debian/\nSuites: bookworm\n\n"
              "Types: deb\nURIs: http://mirror.example/debian-security\n")
    assert vmlane.debian_mirror([deb822]) == "http://mirror.example/debian"
    oneline = ("deb https://packages.cloud.google.com/apt cloud-sdk main\n"
               "deb [arch=amd64 signed-by=/k.gpg] http://ftp.de.debian.org/debian bookworm main\n")
    assert vmlane.debian_mirror(["", oneline]) == "http://ftp.de.debian.org/debian"
    assert vmlane.debian_mirror(["deb http://security.debian.org/debian-security x main"]) == \
        vmlane.DEFAULT_MIRROR


def test_private_apt_is_the_lanes_own(monkeypatch, tmp_path):
    monkeypatch.setenv("BPFSCOPE_VMLANE_CACHE", str(tmp_path))
    text = vmlane.private_sources_list("http://m/debian", ["bullseye", "sid"])
    assert [ln.split()[-3:] for ln in text.splitlines()] == \
        [["http://m/debian", "bullseye", "main"], ["http://m/debian", "sid", "main"]]
    assert vmlane.apt_options("6.1") == []
    opts = vmlane.apt_options("5.10")
    assert opts == vmlane.apt_options("sid")
    values = dict(o.split("=", 1) for o in opts[1::2])
    assert values == {"Dir::Etc::sourcelist": f"{tmp_path}/apt/sources.list",
                      "Dir::Etc::sourceparts": "-",
                      "Dir::State::Lists": f"{tmp_path}/apt/lists",
                      "Dir::Cache": f"{tmp_path}/apt/cache"}


def test_split_image_parts():
    depends = ("dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, "
               "linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 "
               "(= 7.2.13-1), linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1), linux-base (>= 4)")
    assert vmlane.split_image_parts("linux-image-7.2.13+deb14-amd64", depends) == \
        ["linux-base-7.2.13+deb14-amd64", "linux-binary-7.2.13+deb14-amd64",
         "linux-modules-7.2.13+deb14-amd64"]
    assert vmlane.split_image_parts("linux-image-5.10.0-32-amd64",
                                    "kmod, linux-base (>= 4.3~), initramfs-tools") == []


def fake_deb(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    root = tmp_path / f"{name}.root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(f"Package: {name}\nVersion: 1\nArchitecture: amd64\n"
                                         "Maintainer: t <t@t>\nDescription: test\n")
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    deb = tmp_path / f"{name}_1_amd64.deb"
    subprocess.run(["dpkg-deb", "-b", "-Zgzip", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("busybox") is None,
                    reason="needs dpkg-deb and busybox")
@pytest.mark.parametrize("split", [False, True], ids=["one-deb", "split-debs"])
def test_build_kit_from_one_or_split_debs(tmp_path, split):
    r = "7.2.13+deb14-amd64"
    if not vmlane.is_static_elf(Path(shutil.which("busybox")).read_bytes()):
        pytest.skip("busybox is not the static one")
    mods = {f"usr/lib/modules/{r}/kernel/{n}.ko": modinfo(d) for n, d in
            (("9pnet", ""), ("9pnet_virtio", "9pnet"), ("9p", "9pnet"), ("overlay", ""))}
    mods[f"usr/lib/modules/{r}/modules.builtin"] = b"kernel/drivers/virtio/virtio_pci.ko\n"
    if split:
        boot = {f"usr/lib/modules/{r}/vmlinuz": b"MZ" + gzip.compress(ELF),
                f"usr/lib/modules/{r}/config": b"CONFIG_BPF=y\n"}
        debs = [fake_deb(tmp_path, "image", {}), fake_deb(tmp_path, "binary", boot),
                fake_deb(tmp_path, "modules", mods)]
    else:
        boot = {f"boot/vmlinuz-{r}": b"MZ" + gzip.compress(ELF), f"boot/config-{r}": b"CONFIG_BPF=y\n"}
        debs = [fake_deb(tmp_path, "image", {**boot, **mods})]
    (tmp_path / "kits").mkdir()
    kit = vmlane.build_kit(debs, tmp_path / "kits" / "sid", "sid")
    assert kit.kver == r
    assert kit.vmlinux.read_bytes() == ELF
    assert (kit.path / "config").read_text() == "CONFIG_BPF=y\n"
    files = vmlane.read_newc(kit.initramfs.read_bytes())
    assert files["modules/order"][1].split() == [b"9pnet.ko", b"9pnet_virtio.ko", b"9p.ko",
                                                 b"overlay.ko"]
    assert (kit.path / "deb").read_text().split() == [d.name for d in debs]


@pytest.mark.parametrize("compress", [lzma.compress, gzip.compress], ids=["xz", "gzip"])
def test_extract_vmlinux_finds_the_elf_stream(compress):
    # a decoy stream of the same kind that is not an ELF file comes first
    vmlinuz = b"MZ setup code" + compress(b"not a kernel") + b"\0" * 7 + compress(ELF) + b"trailer"
    assert vmlane.extract_vmlinux(vmlinuz) == ELF


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd program")
def test_extract_vmlinux_zstd():
    z = subprocess.run(["zstd", "-qc"], input=ELF, capture_output=True, check=True).stdout
    assert vmlane.extract_vmlinux(b"setup" + z + b"\0" * 9) == ELF


def test_extract_vmlinux_without_kernel():
    with pytest.raises(ValueError, match="no xz, zstd or gzip stream"):
        vmlane.extract_vmlinux(b"MZ nothing here")


def modinfo(depends: str) -> bytes:
    return b"\x7fELF...license=GPL\0depends=" + depends.encode() + b"\0vermagic=6.1\0"


def test_module_names_and_depends():
    assert vmlane.module_name("kernel/net/9p/9pnet_virtio.ko.xz") == "9pnet_virtio"
    assert vmlane.module_name("kernel/drivers/x/virtio-foo.ko") == "virtio_foo"
    assert vmlane.module_depends(modinfo("netfs,9pnet")) == ["netfs", "9pnet"]
    assert vmlane.module_depends(modinfo("")) == []
    assert vmlane.module_depends(b"no modinfo at all") == []


def test_load_order_puts_dependencies_first_once():
    deps = {"9p": "netfs,9pnet", "9pnet_virtio": "9pnet", "9pnet": "", "netfs": "fscache",
            "fscache": "", "overlay": ""}
    files = {n: f"kernel/{n}.ko.xz" for n in deps}
    read = {f"kernel/{n}.ko.xz": modinfo(d) for n, d in deps.items()}.__getitem__
    order = vmlane.load_order(["virtio_pci", "9pnet_virtio", "9p", "overlay"], files,
                              {"virtio_pci"}, read)
    assert [vmlane.module_name(p) for p in order] == \
        ["9pnet", "9pnet_virtio", "fscache", "netfs", "9p", "overlay"]


def test_load_order_errors():
    files = {"a": "a.ko", "b": "b.ko"}
    read = {"a.ko": modinfo("b"), "b.ko": modinfo("a")}.__getitem__
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        vmlane.load_order(["a"], files, set(), read)
    with pytest.raises(ValueError, match="module c is neither built in nor in the package"):
        vmlane.load_order(["c"], files, set(), read)


def test_newc_archive_round_trip_and_alignment():
    entries = [("bin", 0o040755, None), ("dev/console", 0o020600, (5, 1)),
               ("init", 0o100755, b"#!/bin/sh\n"), ("modules/a.ko", 0o100644, b"x" * 5)]
    data = vmlane.newc_archive(entries)
    assert len(data) % 4 == 0
    assert data.startswith(b"070701")
    assert data.rstrip(b"\0").endswith(b"TRAILER!!!")
    files = vmlane.read_newc(data)
    assert files == {"bin": (0o040755, b""), "dev/console": (0o020600, b""),
                     "init": (0o100755, b"#!/bin/sh\n"), "modules/a.ko": (0o100644, b"xxxxx")}
    # the device node's rdev is 5:1 (/dev/console)
    hdr = data[data.index(b"dev/console") - 110:]
    assert (int(hdr[78:86], 16), int(hdr[86:94], 16)) == (5, 1)


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs the cpio program")
def test_newc_archive_reads_with_cpio(tmp_path):
    data = vmlane.newc_archive([("d", 0o040755, None), ("d/f", 0o100644, b"hello\n")])
    r = subprocess.run(["cpio", "-t"], input=data, capture_output=True, check=True)
    assert r.stdout.split() == [b"d", b"d/f"]


def test_init_script_is_valid_shell_and_mounts_what_tracers_need():
    script = vmlane.init_script()
    assert script.startswith("#!/bin/busybox sh\n")
    subprocess.run(["sh", "-n", "-c", script], check=True)
    for what in ("-t 9p -o trans=virtio,version=9p2000.L,ro", "-t overlay",
                 "-t debugfs debugfs $R/sys/kernel/debug",
                 "-t tracefs tracefs $R/sys/kernel/tracing", "-t bpf bpf $R/sys/fs/bpf",
                 "> /dev/ttyS1", "vmlane-exit=$?", "poweroff -f", "BPFSCOPE_VMLANE_GUEST="):
        assert what in script, what


def test_init_script_runs_command_in_directory(tmp_path):
    """The command-running line of the init script, with the host's shell
    standing in for busybox and chroot."""
    bb = tmp_path / "bb"
    bb.write_text('#!/bin/sh\ncase "$1" in chroot) shift 2; exec "$@";; '
                  'uname) echo 6.1-test;; *) exec "$@";; esac\n')
    bb.chmod(0o755)
    line = next(ln for ln in vmlane.init_script().split("$B env -i", 1)[1:])
    line = "$B env -i" + line.split("\necho", 1)[0].replace(" > /dev/ttyS1", f" > {tmp_path}/out")
    cmd = "pwd; echo \"$BPFSCOPE_VMLANE_GUEST\" 'quoted \"text\"'; exit 7"
    r = subprocess.run(["sh", "-c", f"B={bb}; CWD={tmp_path}; CMD={shlex.quote(cmd)}; R=/\n{line}\necho rc=$?"],
                       capture_output=True, text=True)
    assert r.stdout == "rc=7\n"
    assert (tmp_path / "out").read_text() == f"{tmp_path}\n6.1-test quoted \"text\"\n"


def test_kernel_cmdline_carries_command_and_cwd():
    cmd = "exec python -m pytest -q 'tests/vm/guest' && echo \"done\""
    line = vmlane.kernel_cmdline(cmd, "/work/my repo")
    words = dict(w.split("=", 1) for w in line.split() if w.startswith("vmlane_"))
    assert base64.b64decode(words["vmlane_cmd"]).decode() == cmd
    assert base64.b64decode(words["vmlane_cwd"]).decode() == "/work/my repo"
    assert line.startswith("console=ttyS0 ")
    assert " rdinit=/init " in line


def test_kernel_cmdline_too_long():
    with pytest.raises(ValueError, match="put it in a script file"):
        vmlane.kernel_cmdline("x" * 1600, "/")


def test_parse_output():
    raw = b"line one\r\nvmlane-exit=3 (printed by the command)\r\nlast\r\nvmlane-exit=0\r\n"
    assert vmlane.parse_output(raw) == (0, "line one\nvmlane-exit=3 (printed by the command)\nlast\n")
    assert vmlane.parse_output(b"vmlane-exit=125\r\n") == (125, "")
    assert vmlane.parse_output(b"half an output") == (None, "half an output")


def test_is_static_elf(tmp_path):
    def elf(phdr_types):
        hdr = bytearray(64)
        hdr[:5] = b"\x7fELF\x02"
        struct.pack_into("<Q", hdr, 0x20, 64)
        struct.pack_into("<HH", hdr, 0x36, 56, len(phdr_types))
        return bytes(hdr) + b"".join(struct.pack("<I", t) + bytes(52) for t in phdr_types)
    assert vmlane.is_static_elf(elf([1, 1, 4]))
    assert not vmlane.is_static_elf(elf([6, 3, 1]))      # PT_INTERP: dynamic
    assert not vmlane.is_static_elf(b"#!/bin/sh\n")
    assert not vmlane.is_static_elf(Path("/bin/sh").resolve().read_bytes())


def test_qemu_argv(tmp_path):
    kit = vmlane.Kit("6.1", tmp_path, "6.1.0-56-amd64")
    argv = vmlane.qemu_argv(kit, "console=ttyS0", tmp_path / "c", tmp_path / "o", cpus=2)
    assert argv[0] == "qemu-system-x86_64"
    assert "-enable-kvm" not in argv and "tcg,thread=multi" in argv
    assert argv[argv.index("-kernel") + 1] == str(tmp_path / "vmlinux")
    fsdev = argv[argv.index("-fsdev") + 1]
    assert "path=/," in fsdev and "readonly=on" in fsdev
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-serial"] == \
        [f"file:{tmp_path}/c", f"file:{tmp_path}/o"]


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BPFSCOPE_VMLANE_CACHE", str(tmp_path))
    assert vmlane.cache_dir() == tmp_path
    assert vmlane.cached_kit("6.1") is None


def test_pytest_summary_of_guest_output():
    import test_vm_lane
    out = ".s.\n==== short test summary info ====\nPASSED a::b\n==== 3 passed, 1 skipped in 9.1s ====\n"
    assert test_vm_lane.pytest_summary(out) == "3 passed, 1 skipped in 9.1s"
    assert test_vm_lane.pytest_summary("Traceback\n") == "no pytest summary"


def failing_run(stderr: str):
    def run(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 100, "", stderr)
    return run


def test_unavailable_without_qemu_when_apt_fails(monkeypatch):
    monkeypatch.setattr(vmlane, "missing_tools", lambda: ["qemu-system-x86_64"])
    monkeypatch.setattr(vmlane, "_run", failing_run("E: Unable to locate package qemu-system-x86"))
    monkeypatch.setattr(vmlane.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vmlane.shutil, "which", lambda t: "/usr/bin/" + t)
    with pytest.raises(vmlane.LaneUnavailable) as e:
        vmlane.ensure_packages()
    assert str(e.value) == ("qemu-system-x86_64 is missing and apt-get could not install it "
                            "(E: Unable to locate package qemu-system-x86)")
    monkeypatch.setattr(vmlane.os, "geteuid", lambda: 1000)
    with pytest.raises(vmlane.LaneUnavailable, match="only root can install"):
        vmlane.ensure_packages()


def test_unavailable_without_kernel_package(monkeypatch, tmp_path):
    monkeypatch.setenv("BPFSCOPE_VMLANE_CACHE", str(tmp_path))
    monkeypatch.setattr(vmlane, "_run", failing_run(""))
    monkeypatch.setattr(vmlane.shutil, "which", lambda t: "/usr/bin/" + t)
    with pytest.raises(vmlane.LaneUnavailable) as e:
        vmlane.ensure_kit("6.12")
    assert str(e.value) == "apt-cache lists no generic linux-image-6.12 package for amd64"


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU")
def test_boot_failure_is_reported(tmp_path):
    (tmp_path / "vmlinux").write_bytes(b"not a kernel")
    (tmp_path / "initramfs.cpio").write_bytes(vmlane.newc_archive([]))
    r = vmlane.boot(vmlane.Kit("6.1", tmp_path, "bogus"), "true", timeout=60)
    assert r.exit_code == vmlane.FAILED
    assert r.error and r.error.startswith("qemu exited with 1"), r.error


def test_every_kernel_runs_every_guest_test_unless_quick(monkeypatch):
    import test_vm_lane
    monkeypatch.delenv("BPFSCOPE_VMLANE_QUICK", raising=False)
    assert vmlane.SERIES[0] == "5.10" and vmlane.SERIES[-1] == "sid"
    assert all(test_vm_lane.full_suite(s) for s in vmlane.SERIES)
    monkeypatch.setenv("BPFSCOPE_VMLANE_QUICK", "1")
    assert [test_vm_lane.full_suite(s) for s in vmlane.SERIES] == [True, False, False, True]
    full, quick = test_vm_lane.guest_command(True), test_vm_lane.guest_command(False)
    assert full.endswith(" tests/vm/guest")
    assert test_vm_lane.guest_command(True, {"BPFSCOPE_VMLANE_BSE2E": "/c/bse2e"}).startswith(
        "BPFSCOPE_VMLANE_BSE2E=/c/bse2e exec ")
    assert quick.split()[-3:] == [f"tests/vm/guest/{n}" for n in test_vm_lane.QUICK]
    for name in test_vm_lane.QUICK:
        assert (test_vm_lane.GUEST / name).exists()


def test_stale_private_lists_are_refreshed_once(monkeypatch, tmp_path):
    monkeypatch.setenv("BPFSCOPE_VMLANE_CACHE", str(tmp_path))
    monkeypatch.setattr(vmlane.os, "geteuid", lambda: 0)
    monkeypatch.setattr(vmlane, "_private_updated", False)
    calls = []

    def fetch(series):
        calls.append(series)
        if len(calls) == 1:
            raise vmlane.LaneUnavailable("apt-get download linux-image-7.2.12+deb14-amd64 failed (404)")
        return [tmp_path / "new.deb"]
    monkeypatch.setattr(vmlane, "_fetch_kernel_debs", fetch)
    monkeypatch.setattr(vmlane, "_private_apt_update", lambda: calls.append("update"))
    assert vmlane.fetch_kernel_debs("sid") == [tmp_path / "new.deb"]
    assert calls == ["sid", "update", "sid"]
    # the machine's own series are not the lane's to refresh
    calls.clear()
    with pytest.raises(vmlane.LaneUnavailable):
        vmlane.fetch_kernel_debs("6.1")
    assert calls == ["6.1"]


def fake_kit(tmp_path, series: str, image: str) -> "vmlane.Kit":
    d = tmp_path / "kits" / series
    d.mkdir(parents=True)
    (d / "deb").write_text(f"{image}_7.2.13-1_amd64.deb\nlinux-binary-x_1_amd64.deb\n")
    (d / "kver").write_text("7.2.13+deb14-amd64\n")
    (d / "stamp").write_text(vmlane.kit_stamp() + "\n")
    (d / "vmlinux").write_bytes(b"")
    return vmlane.Kit(series, d, "7.2.13+deb14-amd64")


def test_sid_kit_is_rebuilt_when_sid_has_a_newer_kernel(monkeypatch, tmp_path):
    """The lane takes the newest kernel in sid: lists older than a day are
    refreshed, and a kit of an older image is rebuilt from the newest."""
    monkeypatch.setenv("BPFSCOPE_VMLANE_CACHE", str(tmp_path))
    monkeypatch.setattr(vmlane.os, "geteuid", lambda: 0)
    kit = fake_kit(tmp_path, "sid", "linux-image-7.2.13+deb14-amd64")
    lists = tmp_path / "apt" / "lists"
    lists.mkdir(parents=True)
    calls = []
    monkeypatch.setattr(vmlane, "_private_apt_update", lambda: calls.append("update"))
    newest = ["linux-image-7.2.13+deb14-amd64"]
    monkeypatch.setattr(vmlane, "find_kernel_package", lambda series: newest[0])
    assert vmlane.kit_image(kit) == "linux-image-7.2.13+deb14-amd64"
    # fresh lists, same image: the kit stands, nothing fetched
    assert not vmlane.superseded(kit)
    assert calls == []
    # lists a day old are refreshed first
    os.utime(lists, (0, 0))
    newest[0] = "linux-image-7.3.1+deb14-amd64"
    assert vmlane.superseded(kit)
    assert calls == ["update"]
    built = []

    def build(series, kitdir):
        built.append(series)
        return vmlane.Kit(series, kitdir, "7.3.1+deb14-amd64")
    monkeypatch.setattr(vmlane, "_build_newest", build)
    assert vmlane.ensure_kit("sid").kver == "7.3.1+deb14-amd64"
    assert built == ["sid"]
    # the newer kernel cannot be fetched (offline): the cached kit runs
    monkeypatch.setattr(vmlane, "_build_newest", lambda series, kitdir: (_ for _ in ()).throw(
        vmlane.LaneUnavailable("apt-get download failed")))
    assert vmlane.ensure_kit("sid").kver == "7.2.13+deb14-amd64"


def test_fixed_series_kits_are_not_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("BPFSCOPE_VMLANE_CACHE", str(tmp_path))
    monkeypatch.setattr(vmlane.os, "geteuid", lambda: 0)
    kit = fake_kit(tmp_path, "6.12", "linux-image-6.12.118+deb12-amd64")
    monkeypatch.setattr(vmlane, "find_kernel_package", lambda series: pytest.fail("asked apt"))
    assert not vmlane.superseded(kit)
    # offline: sid's lists cannot be read or refreshed, the kit stands
    sid = fake_kit(tmp_path, "sid", "linux-image-7.2.13+deb14-amd64")

    def offline(series):
        raise vmlane.LaneUnavailable("apt-cache lists no generic linux-image- package")
    monkeypatch.setattr(vmlane, "find_kernel_package", offline)
    monkeypatch.setattr(vmlane, "_private_apt_update", lambda: None)
    assert not vmlane.superseded(sid)
