"""Folded stacks: sample model, map conversion, sanitising, parsing."""

from dataclasses import dataclass

import pytest

from bpfscope.output.folded import (EMPTY_STACK, format_folded, merge_samples,
                                    parse_folded, samples_from_map,
                                    sanitize_frame)
from bpfscope.runtime.values import MapData, Symbolic


@dataclass(frozen=True)
class FakeStack:
    """Stand-in for the runtime's stack value: frames leaf first."""
    frames: list


def test_lines_sorted_and_merged():
    samples = [(["main", "b"], 2), (["main", "a", "x"], 3), (["main", "b"], 5),
               (["idle"], 1)]
    assert format_folded(samples) == "idle 1\nmain;a;x 3\nmain;b 7\n"


def test_zero_and_negative_counts_dropped_empty_stack_kept():
    samples = [(["a"], 0), (["b"], -4), ([], 6)]
    assert format_folded(samples) == f"{EMPTY_STACK} 6\n"


def test_merge_samples_types():
    assert merge_samples([(("a", "b"), 1), (["a", "b"], 2)]) == [(("a", "b"), 3)]
    with pytest.raises(TypeError):
        merge_samples([(["a"], 1.5)])


def test_sanitize_separator_and_control_chars():
    assert sanitize_frame("plain::name+0x10") == "plain::name+0x10"
    assert sanitize_frame("a;b") == "a\\x3bb"
    assert sanitize_frame("line1\nline2\ttab\r\x01\x7f") == \
        "line1\\nline2\\ttab\\r\\x01\\x7f"
    assert sanitize_frame("spaces are fine é") == "spaces are fine é"
    out = format_folded([(["root", "we;ird\nname"], 4)])
    assert out == "root;we\\x3bird\\nname 4\n"
    assert out.count("\n") == 1 and out.count(";") == 1


def test_sanitising_collisions_merge():
    out = format_folded([(["a;b"], 1), (["a\\x3bb"], 2)])
    assert out == "a\\x3bb 3\n"


def test_parse_round_trip():
    samples = [(["main", "foo with space", "leaf"], 3), (["other"], 10)]
    text = format_folded(samples)
    assert sorted(parse_folded(text)) == sorted(samples)
    assert parse_folded("\n  a;b 2\n\n") == [(["a", "b"], 2)]


@pytest.mark.parametrize("bad", ["a;b", "a;b x", " 5", "5"])
def test_parse_errors_name_line(bad):
    with pytest.raises(ValueError, match="line 2"):
        parse_folded("ok 1\n" + bad + "\n")


def test_samples_from_map_kstack_ustack_comm():
    # @[kstack, ustack, comm] = count()
    kstack = FakeStack(["vfs_read+5", "ksys_read+80", "do_syscall_64+56"])
    ustack = FakeStack(["read+20", "main+30", "__libc_start_main+128"])
    m = MapData("@", "count", [((kstack, ustack, "cat"), 7),
                               ((kstack, FakeStack([]), "sh"), 0)])
    assert samples_from_map(m) == [(
        ["cat", "__libc_start_main+128", "main+30", "read+20",
         "do_syscall_64+56", "ksys_read+80", "vfs_read+5"], 7)]


def test_samples_from_map_key_order_and_labels():
    s1, s2 = FakeStack(["k1", "k0"]), FakeStack(["u1", "u0"])
    m = MapData("@x", "sum", [((1234, s1, Symbolic("sym"), s2), 5)])
    assert samples_from_map(m) == [(["1234", "sym", "u0", "u1", "k0", "k1"], 5)]
    assert samples_from_map(m, stack_order="key") == [
        (["1234", "sym", "k0", "k1", "u0", "u1"], 5)]
    with pytest.raises(ValueError):
        samples_from_map(m, stack_order="sideways")


def test_samples_from_map_single_key_and_empty_stack():
    m = MapData("@", "count", [((FakeStack(["leaf", "root"]),), 2),
                               ((FakeStack([]),), 3)])
    samples = samples_from_map(m)
    assert samples == [(["root", "leaf"], 2), ([], 3)]
    assert format_folded(samples) == f"{EMPTY_STACK} 3\nroot;leaf 2\n"


def test_samples_from_map_rejects_non_integer_values():
    m = MapData("@h", "hist", [((FakeStack(["a"]),), {1: 2})])
    with pytest.raises(ValueError, match="@h holds hist values"):
        samples_from_map(m)


def test_samples_from_map_rendered_multiline_stack():
    rendered = Symbolic("\n        vfs_read+5\n        ksys_read+80\n")
    m = MapData("@", "count", [((rendered, "cat"), 4)])
    assert samples_from_map(m) == [(["cat", "ksys_read+80", "vfs_read+5"], 4)]
