"""A config block accepts only bpftrace's config variables: unknown names
(`unsafe` among them) and environment-only names are located errors, so a
script cannot allow system()/signal() for itself."""

from __future__ import annotations

import pytest

from bpfscope import api
from bpfscope.errors import BpfscopeError


def error_of(text: str) -> str:
    with pytest.raises(BpfscopeError) as e:
        api.compile_script(text)
    return e.value.format()


@pytest.mark.parametrize("item, shown", [
    ("unsafe = 1", "unsafe"),
    ("BPFTRACE_UNSAFE = true", "BPFTRACE_UNSAFE"),
    ('unsafe = "yes"', "unsafe"),
    ("bad_config = 1", "bad_config"),
])
def test_unknown_key_is_a_located_error(item, shown):
    text = f'config = {{ {item} }} BEGIN {{ system("id"); }}'
    assert error_of(text) == (
        f"stdin:1:12-{12 + len(item)}: ERROR: {shown}: not a known configuration option\n"
        f"{text}\n"
        f"{' ' * 11}{'~' * len(item)}")


def test_environment_only_key():
    text = "config = { kernel_build = 1 } BEGIN { }"
    assert error_of(text).startswith(
        "stdin:1:12-28: ERROR: kernel_build: can only be set as an environment variable\n")


def test_second_item_located():
    text = "config = { max_strlen = 8; unsafe = 1 } BEGIN { }"
    assert error_of(text).startswith("stdin:1:28-38: ERROR: unsafe: not a known")


def test_known_keys_in_every_spelling_still_work():
    script = api.compile_script(
        "config = { BPFTRACE_MAX_STRLEN = 16; MAX_MAP_KEYS = 10; stack_mode = perf } "
        "BEGIN { exit(); }")
    assert script.config["max_strlen"] == 16
    assert script.config["max_map_keys"] == 10


def test_unsafe_functions_need_the_caller(monkeypatch):
    monkeypatch.setenv("BPFTRACE_UNSAFE", "1")  # the environment does not grant it either
    for call in ('system("id")', "signal(9)"):
        assert "is an unsafe function, use --unsafe" in error_of(f"BEGIN {{ {call}; }}")
        api.compile_script(f"BEGIN {{ {call}; }}", config={"unsafe": 1})
