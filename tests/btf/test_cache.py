"""The index disk cache and the sysfs loader, with temporary files."""

import os

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
