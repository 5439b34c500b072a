"""Real lookups in the running kernel's BTF (skipped where it is not readable).

Only facts that hold across kernel versions are asserted exactly; offsets
are checked against the raw member records and, when bpftool is installed,
against ``bpftool btf dump`` (the tests never need it).
"""

import os
import re
import shutil
import subprocess

import pytest

from bpfscope import btf
from bpfscope.btf import kinds as K

VMLINUX = "/sys/kernel/btf/vmlinux"
pytestmark = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK),
                                reason="no readable /sys/kernel/btf/vmlinux")


@pytest.fixture(scope="module")
def kb():
    return btf.load_vmlinux()


def test_task_struct(kb):
    ts = kb.get("struct task_struct")
    assert kb.type(ts).kind == K.STRUCT and kb.sizeof(ts) > 1000
    pid = kb.member(ts, "pid")
    assert kb.type_name(pid.type) == "pid_t"
    assert kb.type(kb.resolve(pid.type)).name == "int" and kb.sizeof(pid.type) == 4
    assert kb.type(kb.resolve(pid.type)).signed
    parent = kb.member(ts, "parent")
    assert kb.type_name(parent.type) == "struct task_struct *"
    assert kb.type(parent.type).kind == K.PTR
    assert kb.resolve(kb.type(parent.type).type) == ts
    comm = kb.member(ts, "comm")
    assert kb.type_name(comm.type) == "char[16]"
    # task_struct->parent->pid: the chain a script walks.
    pid2 = kb.member(kb.type(parent.type).type, "pid")
    assert pid2 == pid
    assert kb.offsetof("task_struct", "pid") == pid.offset


def test_offsets_match_raw_records(kb):
    ts = kb.get("struct task_struct")
    for m in kb.type(ts).members:
        if m.name:
            assert kb.member(ts, m.name).bit_offset == m.bit_offset
            if not m.bitfield_size:
                assert kb.offsetof(ts, m.name) == m.bit_offset // 8
    # Members of anonymous unions are reachable with summed offsets.
    sk = kb.get("struct sk_buff")
    anon = [m for m in kb.type(sk).members if not m.name]
    assert anon, "sk_buff has anonymous members"
    flat = {f.name: f for f in kb.members(sk)}
    assert "len" in flat and kb.offsetof(sk, "len") == flat["len"].offset
    assert kb.offsetof("task_struct", "se.vruntime") == \
        kb.offsetof("task_struct", "se") + kb.offsetof("sched_entity", "vruntime")


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")
def test_offsets_match_bpftool(kb):
    out = subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX],
                         capture_output=True, text=True, check=True).stdout
    ts = kb.get("struct task_struct")
    m = re.search(rf"^\[{ts}\] STRUCT 'task_struct' size=(\d+) vlen=\d+\n((?:\t.*\n)+)", out, re.M)
    assert m and int(m.group(1)) == kb.sizeof(ts)
    theirs = {}
    for line in m.group(2).splitlines():
        mm = re.match(r"\t'([^']*)' type_id=(\d+) bits_offset=(\d+)", line)
        if mm.group(1) != "(anon)":
            theirs[mm.group(1)] = (int(mm.group(2)), int(mm.group(3)))
    mine = {f.name: (f.type, f.bit_offset) for f in
            (kb.member(ts, n) for n in theirs)}
    assert mine == theirs


def test_vfs_read(kb):
    sig = kb.func_proto_of("vfs_read")
    assert [p.name for p in sig.params] == ["file", "buf", "count", "pos"]
    assert [kb.type_name(p.type) for p in sig.params] == [
        "struct file *", "char *", "size_t", "loff_t *"]
    assert kb.type_name(sig.ret) == "ssize_t" and not sig.variadic


def test_enums(kb):
    # UAPI values never change.
    assert kb.find_enumerator("BPF_MAP_TYPE_HASH") == (kb.get("enum bpf_map_type"), 1)
    assert kb.enum_value("bpf_map_type", "BPF_MAP_TYPE_ARRAY") == 2
    assert kb.enum_name("enum bpf_prog_type", 1) == "BPF_PROG_TYPE_SOCKET_FILTER"


def test_types_are_consistent(kb):
    """Every type decodes, and every reference points at a real id."""
    n = 0
    for tid in kb.ids():
        t = kb.type(tid)
        for ref in ("type", "ret", "index_type"):
            if hasattr(t, ref):
                assert 0 <= getattr(t, ref) < kb.count
        n += 1
    assert n == kb.count - 1 > 10000


def test_module_btf(kb):
    mods = btf.list_modules()
    if not mods:
        pytest.skip("no module has BTF on this machine")
    mod = btf.load_module(mods[0])
    assert mod.base is kb and mod.start_id == kb.count and mod.count >= kb.count
    assert mod.find("task_struct", K.STRUCT) == kb.find("task_struct", K.STRUCT)
    for tid in range(mod.start_id, mod.count):
        mod.type(tid)


_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINK = {0: "static", 1: "global", 2: "extern"}


def _raw_dump(kb):
    """Our decoding of every type, spelled like ``bpftool btf dump`` (raw)."""
    def q(n):
        return f"'{n or '(anon)'}'"
    out = []
    for tid in kb.ids():
        t = kb.type(tid)
        k = t.kind
        h = f"[{tid}] {t.kind_name} {q(t.name)}"
        if k == K.INT:
            out.append(f"{h} size={t.size} bits_offset={t.bit_offset} nr_bits={t.bits} "
                       f"encoding={_ENC.get(t.encoding, t.encoding)}")
        elif k in (K.PTR, K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG):
            out.append(f"{h} type_id={t.type}")
        elif k == K.ARRAY:
            out.append(f"{h} type_id={t.type} index_type_id={t.index_type} nr_elems={t.nelems}")
        elif k in (K.STRUCT, K.UNION):
            out.append(f"{h} size={t.size} vlen={len(t.members)}")
            for m in t.members:
                bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
                out.append(f"\t{q(m.name)} type_id={m.type} bits_offset={m.bit_offset}{bf}")
        elif k in (K.ENUM, K.ENUM64):
            sfx = ("LL" if t.signed else "ULL") if k == K.ENUM64 else ""
            out.append(f"{h} encoding={'SIGNED' if t.signed else 'UNSIGNED'} "
                       f"size={t.size} vlen={len(t.values)}")
            out.extend(f"\t{q(v.name)} val={v.value}{sfx}" for v in t.values)
        elif k == K.FWD:
            out.append(f"{h} fwd_kind={'union' if t.is_union else 'struct'}")
        elif k == K.FUNC:
            out.append(f"{h} type_id={t.type} linkage={_LINK[t.linkage]}")
        elif k == K.FUNC_PROTO:
            out.append(f"{h} ret_type_id={t.ret} vlen={len(t.params) + t.variadic}")
            out.extend(f"\t{q(p.name)} type_id={p.type}" for p in t.params)
            if t.variadic:
                out.append("\t'(anon)' type_id=0")
        elif k == K.VAR:
            out.append(f"{h} type_id={t.type}, linkage={_LINK[t.linkage]}")
        elif k == K.DATASEC:
            out.append(f"{h} size={t.size} vlen={len(t.vars)}")
            out.extend(f"\ttype_id={v.type} offset={v.offset} size={v.size}" for v in t.vars)
        elif k == K.FLOAT:
            out.append(f"{h} size={t.size}")
        elif k == K.DECL_TAG:
            out.append(f"{h} type_id={t.type} component_idx={t.component_idx}")
    return out


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")
def test_every_type_matches_bpftool(kb):
    """The whole kernel BTF decodes exactly as bpftool reads it."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX],
                         capture_output=True, text=True, check=True).stdout
    # bpftool names each DATASEC entry's VAR; we compare the numbers only.
    theirs = [re.sub(r" \((VAR|FUNC) '[^']*'\)$", "", line) for line in out.splitlines()]
    mine = _raw_dump(kb)
    assert len(mine) == len(theirs)
    bad = [(a, b) for a, b in zip(mine, theirs) if a != b]
    assert bad[:5] == []
