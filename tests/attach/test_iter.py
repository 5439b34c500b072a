"""iter: spec parsing and expansion against a BTF of the test's own (no
kernel): the iterator's name, the optional pin, the context type of
``ctx`` and the guard on the object pointer."""

from __future__ import annotations

import pytest

from bpfscope.attach import iter as iter_provider
from bpfscope.bpf.consts import AttachType
from bpfscope.btf import kinds as K
from bpfscope.errors import SemanticError
from bpfscope.lang import ast
from tests.attach.test_listing import _iter_btf


def ap(text: str):
    return ast.AttachPoint(None, text, text.split(":", 2))


def test_a_task_iterator():
    kb = _iter_btf()
    p = iter_provider.make_probe(ap("iter:task"), kb)
    assert p.name == "iter:task" and p.provider == "iter"
    assert p.target == iter_provider.IterTarget("task", kb.find("bpf_iter_task", K.FUNC))
    assert p.load == {"expected_attach_type": AttachType.TRACE_ITER,
                      "attach_btf_id": p.target.btf_id}
    assert p.layout.ctx_type == "struct bpf_iter__task *"
    assert p.layout.guard == 8   # the task pointer: NULL on the last call


def test_pins_relative_to_bpffs_or_absolute():
    kb = _iter_btf()
    p = iter_provider.make_probe(ap("iter:task_file:list"), kb)
    assert p.target.pin == "list" and p.name == "iter:task_file:list"
    assert iter_provider.pin_path("list") == "/sys/fs/bpf/list"
    assert iter_provider.pin_path("/sys/fs/bpf/x/files") == "/sys/fs/bpf/x/files"
    p = iter_provider.make_probe(ap("iter:task:/sys/fs/bpf/files"), kb)
    assert p.target.pin == "/sys/fs/bpf/files"


@pytest.mark.parametrize("text, message", [
    ("iter:nosuch", "iter:nosuch: this kernel has no iterator named nosuch "
                    "(bpfscope -l 'iter:*' lists them)"),
    ("iter:task*", "iter probe type does not support wildcards"),
    ("iter", "iter probe type requires 1 or 2 arguments"),
    ("iter:", "iter probe type requires 1 or 2 arguments"),
])
def test_errors(text, message):
    with pytest.raises(SemanticError) as e:
        iter_provider.make_probe(ap(text), _iter_btf())
    assert e.value.message == message
