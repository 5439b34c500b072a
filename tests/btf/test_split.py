"""Split BTF: a module's types and strings continue after its base's."""

import pytest

from bpfscope.btf import Field, kinds as K


@pytest.fixture(params=[True, False], ids=["lead-nul", "no-lead-nul"])
def split(Encoder, request):
    base = Encoder()
    b = {}
    b["int"] = base.int("int", 4, signed=True)
    b["ulong"] = base.int("long unsigned int", 8)
    b["task"] = base.struct("task_struct", 16, [("pid", b["int"], 0), ("flags", b["ulong"], 64)])
    b["task_p"] = base.ptr(b["task"])
    b["state"] = base.enum("state", [("RUNNING", 0), ("STOPPED", 4)])
    base_btf = base.btf()

    mod = Encoder(base=base, lead_nul=request.param)
    m = {}
    m["fwd"] = mod.fwd("task_struct")              # modules often only declare it
    m["fwd_p"] = mod.ptr(m["fwd"])
    m["dev"] = mod.struct("my_dev", 24, [
        ("owner", m["fwd_p"], 0), ("task", b["task"], 64)])
    m["dev_p"] = mod.ptr(m["dev"])
    m["mode"] = mod.enum("my_mode", [("MODE_A", 7), ("pid", 9)])   # 'pid' reuses a base string
    m["proto"] = mod.func_proto(b["int"], [("dev", m["dev_p"]), ("t", b["task_p"])])
    m["func"] = mod.func("my_probe", m["proto"])
    mod_btf = mod.btf(base_btf=base_btf)
    return base_btf, b, mod_btf, m


def test_ids_and_strings_continue(split):
    base, b, mod, m = split
    assert mod.start_id == base.count == 6
    assert m["fwd"] == 6 and mod.count == 6 + len(m)
    assert list(mod.ids()) == list(range(1, mod.count))
    assert list(mod.ids(K.STRUCT)) == [b["task"], m["dev"]]
    # Base ids answer from the base object itself.
    assert mod.type(b["task"]) is base.type(b["task"])
    assert mod.name_of(b["int"]) == "int" and mod.kind(b["task"]) == K.STRUCT
    assert mod.name_of(m["dev"]) == "my_dev"
    assert [v.name for v in mod.type(m["mode"]).values] == ["MODE_A", "pid"]
    assert repr(mod) == f"<Btf test ids 6..{mod.count - 1} base=test>"


def test_find_across_base(split):
    base, b, mod, m = split
    assert mod.find("task_struct") == b["task"]         # the full one, in the base
    assert mod.find_all("task_struct") == [b["task"], m["fwd"]]
    assert mod.find("my_dev") == m["dev"]
    assert mod.find("int") == b["int"]
    assert base.find("my_dev") is None


def test_layout_across_base(split):
    base, b, mod, m = split
    assert mod.member(m["dev"], "task") == Field("task", b["task"], 64, 0)
    assert mod.offsetof("my_dev", "task.flags") == 16
    assert mod.sizeof(m["dev"]) == 24
    assert mod.sizeof(m["fwd"]) == 16                   # completed from the base
    assert mod.member(m["fwd"], "flags").offset == 8
    assert mod.type_name(m["fwd_p"]) == "struct task_struct *"
    sig = mod.func_proto_of("my_probe")
    assert [(p.name, mod.type_name(p.type)) for p in sig.params] == [
        ("dev", "struct my_dev *"), ("t", "struct task_struct *")]
    assert mod.type_name(sig.ret) == "int"


def test_enumerators_across_base(split):
    base, b, mod, m = split
    assert mod.find_enumerator("STOPPED") == (b["state"], 4)
    assert mod.find_enumerator("MODE_A") == (m["mode"], 7)
    assert mod.find_enumerator("pid") == (m["mode"], 9)   # base member 'pid' skipped
    assert base.find_enumerator("MODE_A") is None
