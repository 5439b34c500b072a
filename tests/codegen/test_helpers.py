import pytest

from bpfscope.codegen.helpers import HELPERS, helper_id, helper_name


def test_known_ids():
    assert HELPERS["map_lookup_elem"] == 1
    assert HELPERS["ktime_get_ns"] == 5
    assert HELPERS["get_current_pid_tgid"] == 14
    assert HELPERS["get_stackid"] == 27
    assert HELPERS["probe_read_kernel"] == 113
    assert HELPERS["ringbuf_output"] == 130
    assert HELPERS["get_func_ip"] == 173
    assert HELPERS["cgrp_storage_delete"] == 211


def test_table_is_dense_and_unique():
    assert sorted(HELPERS.values()) == list(range(1, 212))


def test_lookup_both_ways():
    assert helper_name(1) == "map_lookup_elem"
    assert helper_name(999) is None
    assert helper_id("bpf_map_update_elem") == 2 == helper_id(2)
    with pytest.raises(ValueError, match="unknown BPF helper"):
        helper_id("no_such_helper")
