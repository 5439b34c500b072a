"""The index disk cache and the sysfs loader, with temporary files."""

import os
import zlib

import pytest

from bpfscope.btf import BtfError, cache, loader, reader


@pytest.fixture
def blob(enc):
    i = enc.int("int", 4, signed=True)
    enc.struct("task_struct", 8, [("pid", i, 0), ("tgid", i, 32)])
    return enc.blob()


def test_roundtrip(blob, tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "CACHE_MIN_BYTES", 0)
    b1 = loader.from_bytes(blob, "vmlinux", cache_dir=str(tmp_path))
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].startswith("vmlinux-") and files[0].endswith(".idx")
    monkeypatch.setattr(reader, "build_index", lambda w: pytest.fail("index pass ran"))
    b2 = loader.from_bytes(blob, "vmlinux", cache_dir=str(tmp_path))
    assert list(b2._offs) == list(b1._offs) and b2._names_bytes == b1._names_bytes
    assert b2.offsetof("task_struct", "tgid") == 4


def test_small_blobs_skip_the_cache(blob, tmp_path):
    loader.from_bytes(blob, "mod", cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_key_follows_content(blob):
    other = bytearray(blob)
    other[-2] ^= 1
    assert cache.key(blob) != cache.key(bytes(other))
    assert cache.key(blob) == cache.key(bytes(blob))


def test_new_kernel_replaces_old_entry(enc, tmp_path):
    enc.int("int", 4)
    a = enc.blob()
    enc.int("long", 8)
    b = enc.blob()
    idx = reader.build_index(reader.Btf(a)._w)
    assert cache.store("vmlinux", a, idx, str(tmp_path))
    assert cache.store("vmlinux", b, reader.build_index(reader.Btf(b)._w), str(tmp_path))
    assert cache.store("other", a, idx, str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0].startswith("other-")
    assert cache.load("vmlinux", a, str(tmp_path)) is None
    assert cache.load("vmlinux", b, str(tmp_path)) is not None


@pytest.mark.parametrize("damage", ["truncate", "magic", "empty", "garbage"])
def test_damaged_cache_is_ignored(blob, tmp_path, damage):
    idx = reader.build_index(reader.Btf(blob)._w)
    assert cache.store("vmlinux", blob, idx, str(tmp_path))
    path = tmp_path / os.listdir(tmp_path)[0]
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:-3], "magic": b"X" + data[1:], "empty": b"",
                      "garbage": os.urandom(5)}[damage])
    assert cache.load("vmlinux", blob, str(tmp_path)) is None


def test_unwritable_cache_dir(blob, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a directory")
    bad = str(tmp_path / "file" / "sub")
    idx = reader.build_index(reader.Btf(blob)._w)
    assert cache.store("vmlinux", blob, idx, bad) is False
    assert cache.load("vmlinux", blob, bad) is None
    monkeypatch.setattr(loader, "CACHE_MIN_BYTES", 0)
    assert loader.from_bytes(blob, "vmlinux", cache_dir=bad).find("task_struct") == 2


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == str(tmp_path / "bpfscope" / "btf")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == str(tmp_path / "home" / ".cache" / "bpfscope" / "btf")


@pytest.fixture
def fake_sysfs(tmp_path, monkeypatch, Encoder):
    base = Encoder()
    i = base.int("int", 4, signed=True)
    base.struct("task_struct", 4, [("pid", i, 0)])
    mod = Encoder(base=base)
    mod.struct("mod_thing", 4, [("x", i, 0)])
    (tmp_path / "vmlinux").write_bytes(base.blob())
    (tmp_path / "mymod").write_bytes(mod.blob())
    monkeypatch.setattr(loader, "SYSFS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    loader.clear()
    yield tmp_path
    loader.clear()


def test_loader(fake_sysfs):
    vm = loader.load_vmlinux()
    assert loader.load_vmlinux() is vm                       # memoized
    mod = loader.load_module("mymod")
    assert loader.load_module("mymod") is mod and mod.base is vm
    assert mod.find("mod_thing") == vm.count and mod.find("task_struct") == 2
    assert loader.list_modules() == ["mymod"]
    assert loader.load_file(str(fake_sysfs / "vmlinux")).find("task_struct") == 2


def test_loader_errors(fake_sysfs, monkeypatch):
    with pytest.raises(BtfError, match="module 'absent' has no BTF"):
        loader.load_module("absent")
    for bad in ["", "../vmlinux", "vmlinux", ".."]:
        with pytest.raises(BtfError, match="invalid module name"):
            loader.load_module(bad)
    with pytest.raises(BtfError, match="CONFIG_DEBUG_INFO_BTF"):
        loader.load_vmlinux(str(fake_sysfs / "missing"))
    with pytest.raises(BtfError, match="cannot read"):
        loader.load_vmlinux(str(fake_sysfs))                # a directory
    monkeypatch.setattr(loader, "SYSFS", str(fake_sysfs / "none"))
    assert loader.list_modules() == []


def test_index_that_does_not_fit_is_rebuilt(blob, enc):
    b = reader.Btf(blob)
    offs, names = b._offs, b._names_bytes
    assert cache.plausible((offs, names), b._w)
    bad_names = bytes(4) + names[4:]                 # first record's name_off is 1
    assert not cache.plausible((offs, bad_names), b._w)
    assert not cache.plausible((offs[:-1], names[:-4]), b._w)
    b2 = reader.Btf(blob, index=(offs, bad_names))
    assert b2._names_bytes == names and b2.find("int") == 1


def test_group_writable_cache_is_not_trusted(blob, tmp_path):
    idx = reader.build_index(reader.Btf(blob)._w)
    assert cache.store("vmlinux", blob, idx, str(tmp_path))
    path = tmp_path / os.listdir(tmp_path)[0]
    assert cache.load("vmlinux", blob, str(tmp_path)) is not None
    path.chmod(0o666)
    assert cache.load("vmlinux", blob, str(tmp_path)) is None


# -- hostile cache directories: bpfscope runs as root with a user's $HOME


def _index(blob):
    return reader.build_index(reader.Btf(blob)._w)


def test_symlinked_cache_dir_is_not_followed(blob, tmp_path, monkeypatch):
    """$XDG_CACHE_HOME/bpfscope is a symlink to another directory: nothing
    is written there and nothing there is deleted, not even files named
    like old indexes."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "btf").mkdir()
    planted = victim / "btf" / "vmlinux-1-0123456789abcdef.idx"
    planted.write_bytes(b"precious")
    (victim / "btf" / "passwd").write_text("root:x:0:0")
    home = tmp_path / "cache"
    home.mkdir()
    (home / "bpfscope").symlink_to(victim)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    assert cache.store("vmlinux", blob, _index(blob)) is False
    assert cache.load("vmlinux", blob) is None
    assert sorted(os.listdir(victim / "btf")) == ["passwd", planted.name]
    assert planted.read_bytes() == b"precious"


def test_symlinked_btf_dir_is_not_followed(blob, tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "cache" / "bpfscope").mkdir(parents=True)
    (tmp_path / "cache" / "bpfscope" / "btf").symlink_to(victim)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cache.store("vmlinux", blob, _index(blob)) is False
    assert os.listdir(victim) == []


def test_foreign_owned_or_open_cache_dir_is_not_used(blob, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    d = tmp_path / "bpfscope" / "btf"
    d.mkdir(parents=True)
    d.chmod(0o777)
    assert cache.store("vmlinux", blob, _index(blob)) is False
    assert os.listdir(d) == []
    if os.geteuid() == 0:
        d.chmod(0o700)
        os.chown(d, 65534, 65534)
        assert cache.store("vmlinux", blob, _index(blob)) is False
        assert os.listdir(d) == []


def test_default_dir_is_created_private(blob, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "new"))
    assert cache.store("vmlinux", blob, _index(blob))
    assert cache.load("vmlinux", blob) is not None
    for d in (tmp_path / "new" / "bpfscope", tmp_path / "new" / "bpfscope" / "btf"):
        assert d.stat().st_mode & 0o777 == 0o700


def test_symlinked_cache_file_is_not_read_or_written_through(blob, tmp_path):
    idx = _index(blob)
    assert cache.store("vmlinux", blob, idx, str(tmp_path))
    name = os.listdir(tmp_path)[0]
    real = tmp_path.parent / f"{tmp_path.name}-target"
    os.replace(tmp_path / name, real)
    (tmp_path / name).symlink_to(real)
    assert cache.load("vmlinux", blob, str(tmp_path)) is None   # valid content, via a link
    before = real.read_bytes()
    assert cache.store("vmlinux", blob, idx, str(tmp_path))
    assert real.read_bytes() == before                          # the link was replaced
    assert not (tmp_path / name).is_symlink()
    assert cache.load("vmlinux", blob, str(tmp_path)) is not None
    real.unlink()


def test_fifo_or_directory_in_place_of_the_file(blob, tmp_path):
    name = f"vmlinux-{cache.key(blob)}.idx"
    os.mkfifo(tmp_path / name)
    assert cache.load("vmlinux", blob, str(tmp_path)) is None   # returns at once
    os.unlink(tmp_path / name)
    (tmp_path / name).mkdir()
    assert cache.load("vmlinux", blob, str(tmp_path)) is None
    assert cache.store("vmlinux", blob, _index(blob), str(tmp_path)) is False
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")] == []


def test_foreign_files_in_the_cache_dir_survive(blob, enc, tmp_path):
    """Only this name's older indexes go; other names, near-miss names,
    symlinks and files of other owners stay."""
    keep = {
        "notes.txt": b"mine", "vmlinux.idx": b"x", "vmlinux-zz-0123456789abcdef.idx": b"x",
        "vmlinux-1-0123456789abcdef.idx.bak": b"x", "vmlinux_mod-1-0123456789abcdef.idx": b"x",
        "other-1-0123456789abcdef.idx": b"x",
    }
    for n, data in keep.items():
        (tmp_path / n).write_bytes(data)
    (tmp_path / "sub").mkdir()
    target = tmp_path / "notes.txt"
    (tmp_path / "vmlinux-2-0123456789abcdef.idx").symlink_to(target)
    old = tmp_path / "vmlinux-3-0123456789abcdef.idx"
    old.write_bytes(b"an old index of ours")
    foreign = tmp_path / "vmlinux-4-0123456789abcdef.idx"
    foreign.write_bytes(b"someone else's")
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)
    assert cache.store("vmlinux", blob, _index(blob), str(tmp_path))
    left = set(os.listdir(tmp_path))
    assert set(keep) | {"sub", "vmlinux-2-0123456789abcdef.idx"} <= left
    assert (foreign.name in left) == (os.geteuid() == 0)
    assert old.name not in left
    assert f"vmlinux-{cache.key(blob)}.idx" in left
    assert target.read_bytes() == b"mine"


@pytest.mark.parametrize("damage", ["crc", "count", "huge_count", "order", "oversized",
                                    "shuffled_offsets"])
def test_corrupt_cache_is_rebuilt_with_correct_results(blob, tmp_path, monkeypatch, damage):
    """Every kind of bad file is ignored, the index rebuilt, the lookups
    right, and the file replaced by a good one."""
    monkeypatch.setattr(loader, "CACHE_MIN_BYTES", 0)
    good = loader.from_bytes(blob, "vmlinux", cache_dir=str(tmp_path))
    path = tmp_path / os.listdir(tmp_path)[0]
    data = bytearray(path.read_bytes())
    head = cache._HEAD
    magic, little, n, crc = head.unpack_from(data)
    if damage == "crc":
        data[-1] ^= 0xFF
    elif damage == "count":
        head.pack_into(data, 0, magic, little, n + 1, crc)
    elif damage == "huge_count":
        head.pack_into(data, 0, magic, little, 0xFFFFFFFF, crc)
    elif damage == "order":
        head.pack_into(data, 0, magic, 1 - little, n, crc)
    elif damage == "oversized":
        data += bytes(len(blob) * 2)
    else:   # offsets swapped and the CRC made to fit: the spot check catches it
        offs = data[head.size:head.size + 4 * n]
        offs[0:4], offs[4:8] = offs[4:8], offs[0:4]
        data[head.size:head.size + 4 * n] = offs
        head.pack_into(data, 0, magic, little, n, zlib.crc32(data[head.size:]))
    path.write_bytes(bytes(data))
    assert cache.load("vmlinux", blob, str(tmp_path)) is None or damage == "shuffled_offsets"
    b = loader.from_bytes(blob, "vmlinux", cache_dir=str(tmp_path))
    assert list(b._offs) == list(good._offs) and b._names_bytes == good._names_bytes
    assert b.offsetof("task_struct", "tgid") == 4
    again = cache.load("vmlinux", blob, str(tmp_path))   # rewritten by the rebuild
    assert again is not None and list(again[0]) == list(good._offs)
