"""bpf/maps.py against the kernel: element access, iteration (batched and
key by key), per-CPU values, clearing, names and info."""

import errno
import struct

import pytest

from bpfscope.bpf import maps as maps_mod
from bpfscope.bpf.consts import BPF_NOEXIST, MapType
from bpfscope.bpf.maps import BpfMap, sanitize_name
from bpfscope.bpf.sys import BpfSyscallError, ncpus_possible


def k(i):
    return struct.pack("<I", i)


def v(i):
    return struct.pack("<Q", i)


def test_sanitize_name():
    assert sanitize_name("@counts-by:comm") == "_counts_by_comm"
    assert sanitize_name("a.b_C9") == "a.b_C9"
    assert len(sanitize_name("x" * 40)) == 15


def test_hash_crud(no_leaks):
    with no_leaks.map(BpfMap.create(MapType.HASH, 4, 8, 16, name="@x:y")) as m:
        assert not m.percpu
        assert m.lookup(k(1)) is None
        m.update(k(1), v(10))
        assert m.lookup(k(1)) == v(10)
        with pytest.raises(BpfSyscallError) as ei:
            m.update(k(1), v(11), flags=BPF_NOEXIST)
        assert ei.value.errno == errno.EEXIST
        assert m.delete(k(1)) is True
        assert m.delete(k(1)) is False
        info = m.info()
        assert (info.type, info.name, info.key_size, info.value_size,
                info.max_entries) == (MapType.HASH, "_x_y", 4, 8, 16)
        assert info.id > 0
    assert m.closed


def test_wrong_sizes_rejected(kernel):
    with BpfMap.create(MapType.HASH, 4, 8, 4) as m:
        with pytest.raises(ValueError):
            m.update(b"\0" * 3, v(0))
        with pytest.raises(ValueError):
            m.update(k(0), b"\0" * 4)


@pytest.mark.parametrize("batched", [True, False])
def test_items_and_keys_of_hash(kernel, monkeypatch, batched):
    if not batched:
        monkeypatch.setattr(maps_mod, "has_batch_ops", lambda t: False)
    with BpfMap.create(MapType.HASH, 4, 8, 1024) as m:
        # More than one batch (256) so the cursor is exercised.
        for i in range(700):
            m.update(k(i), v(i * 3))
        assert sorted(m.items()) == sorted((k(i), v(i * 3)) for i in range(700))
        assert sorted(m.keys()) == sorted(k(i) for i in range(700))


def test_items_of_array_lists_every_index(kernel):
    with BpfMap.create(MapType.ARRAY, 4, 8, 300) as m:
        m.update(k(5), v(55))
        items = m.items()
        assert len(items) == 300
        assert items[5] == (k(5), v(55))
        assert items[6] == (k(6), v(0))


def test_keys_survive_deletion_during_iteration(kernel):
    with BpfMap.create(MapType.HASH, 4, 8, 64) as m:
        for i in range(50):
            m.update(k(i), v(i))
        real_next = m._next_key
        calls = []

        def next_then_delete(key):
            # As a concurrent program would: the key keys() stands on goes
            # away, and the kernel's GET_NEXT_KEY restarts from the start.
            nxt = real_next(key)
            calls.append(nxt)
            if len(calls) == 10:
                m.delete(nxt)
            return nxt
        m._next_key = next_then_delete
        keys = m.keys()
        assert len(keys) == len(set(keys)) == 50
        assert len(calls) > 51  # the restart did happen
        assert len(m.keys()) == 49


@pytest.mark.parametrize("map_type", [MapType.PERCPU_ARRAY, MapType.PERCPU_HASH])
def test_percpu_values(kernel, map_type):
    n = ncpus_possible()
    # value_size 4 makes the kernel pad each CPU's slot to 8 bytes.
    with BpfMap.create(map_type, 4, 4, 8) as m:
        assert m.percpu
        per_cpu = [struct.pack("<I", 100 + c) for c in range(n)]
        m.update(k(2), per_cpu)
        assert m.lookup(k(2)) == per_cpu
        m.update(k(3), struct.pack("<I", 7))  # one value for every CPU
        assert m.lookup(k(3)) == [struct.pack("<I", 7)] * n
        assert dict(m.items())[k(2)] == per_cpu
        with pytest.raises(ValueError):
            m.update(k(4), per_cpu[:-1] if n > 1 else per_cpu * 2)


def test_clear_hash_and_array(kernel):
    with BpfMap.create(MapType.HASH, 4, 8, 16) as h:
        for i in range(10):
            h.update(k(i), v(i))
        h.clear()
        assert h.items() == []
    with BpfMap.create(MapType.PERCPU_ARRAY, 4, 8, 4) as a:
        a.update(k(1), v(9))
        a.clear()
        assert a.items() == [(k(i), [v(0)] * ncpus_possible()) for i in range(4)]


def test_batch_fallback_on_unsupported(kernel, monkeypatch):
    """If the batch command fails with ENOTSUPP the slow path is used."""
    with BpfMap.create(MapType.HASH, 4, 8, 8) as m:
        m.update(k(1), v(2))

        def refuse(self):
            raise BpfSyscallError(524, 24)
        monkeypatch.setattr(maps_mod.BpfMap, "_items_batch", refuse)
        assert m.items() == [(k(1), v(2))]


def test_create_error_names_map(kernel):
    with pytest.raises(BpfSyscallError) as ei:
        BpfMap.create(MapType.HASH, 0, 8, 1, name="bad")
    assert ei.value.errno == errno.EINVAL
    assert "map bad of type HASH" in str(ei.value)
