"""ctypes layouts of the bpf(2) argument union (union bpf_attr) and of the
info structs BPF_OBJ_GET_INFO_BY_FD fills, one Structure per command group.

Each Structure is the prefix of the kernel's union member that we use; the
kernel accepts a shorter attr as long as the size passed matches, and it
requires any bytes past the fields it knows to be zero, which ctypes ensures.
"""

from __future__ import annotations

import ctypes

u8, u16, u32, u64, s32 = (ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32,
                          ctypes.c_uint64, ctypes.c_int32)

OBJ_NAME_LEN = 16


class MapCreateAttr(ctypes.Structure):
    """BPF_MAP_CREATE."""

    _fields_ = [
        ("map_type", u32), ("key_size", u32), ("value_size", u32),
        ("max_entries", u32), ("map_flags", u32), ("inner_map_fd", u32),
        ("numa_node", u32), ("map_name", ctypes.c_char * OBJ_NAME_LEN),
        ("map_ifindex", u32), ("btf_fd", u32), ("btf_key_type_id", u32),
        ("btf_value_type_id", u32), ("btf_vmlinux_value_type_id", u32),
        ("map_extra", u64), ("value_type_btf_obj_fd", s32),
        ("map_token_fd", s32),
    ]


class MapElemAttr(ctypes.Structure):
    """BPF_MAP_*_ELEM and BPF_MAP_GET_NEXT_KEY (value doubles as next_key)."""

    _fields_ = [("map_fd", u32), ("key", u64), ("value", u64), ("flags", u64)]


class MapBatchAttr(ctypes.Structure):
    """BPF_MAP_*_BATCH."""

    _fields_ = [
        ("in_batch", u64), ("out_batch", u64), ("keys", u64), ("values", u64),
        ("count", u32), ("map_fd", u32), ("elem_flags", u64), ("flags", u64),
    ]


class ProgLoadAttr(ctypes.Structure):
    """BPF_PROG_LOAD."""

    _fields_ = [
        ("prog_type", u32), ("insn_cnt", u32), ("insns", u64), ("license", u64),
        ("log_level", u32), ("log_size", u32), ("log_buf", u64),
        ("kern_version", u32), ("prog_flags", u32),
        ("prog_name", ctypes.c_char * OBJ_NAME_LEN), ("prog_ifindex", u32),
        ("expected_attach_type", u32), ("prog_btf_fd", u32),
        ("func_info_rec_size", u32), ("func_info", u64), ("func_info_cnt", u32),
        ("line_info_rec_size", u32), ("line_info", u64), ("line_info_cnt", u32),
        ("attach_btf_id", u32), ("attach_btf_obj_fd", u32),
        ("core_relo_cnt", u32), ("fd_array", u64), ("core_relos", u64),
        ("core_relo_rec_size", u32), ("log_true_size", u32),
        ("prog_token_fd", s32),
    ]


class BtfLoadAttr(ctypes.Structure):
    """BPF_BTF_LOAD."""

    _fields_ = [
        ("btf", u64), ("btf_log_buf", u64), ("btf_size", u32),
        ("btf_log_size", u32), ("btf_log_level", u32),
        ("btf_log_true_size", u32),
    ]


class FuncInfo(ctypes.Structure):
    """struct bpf_func_info: where a function starts (in instructions) and
    its FUNC type in the program's BTF."""

    _fields_ = [("insn_off", u32), ("type_id", u32)]


class TestRunAttr(ctypes.Structure):
    """BPF_PROG_TEST_RUN."""

    __test__ = False  # not a pytest class, despite the name
    _fields_ = [
        ("prog_fd", u32), ("retval", u32), ("data_size_in", u32),
        ("data_size_out", u32), ("data_in", u64), ("data_out", u64),
        ("repeat", u32), ("duration", u32), ("ctx_size_in", u32),
        ("ctx_size_out", u32), ("ctx_in", u64), ("ctx_out", u64),
        ("flags", u32), ("cpu", u32), ("batch_size", u32),
    ]


class GetNextIdAttr(ctypes.Structure):
    """BPF_{PROG,MAP,BTF,LINK}_GET_NEXT_ID and *_GET_FD_BY_ID."""

    _fields_ = [("start_id", u32), ("next_id", u32), ("open_flags", u32)]


class InfoByFdAttr(ctypes.Structure):
    """BPF_OBJ_GET_INFO_BY_FD."""

    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


class RawTracepointOpenAttr(ctypes.Structure):
    """BPF_RAW_TRACEPOINT_OPEN."""

    _fields_ = [("name", u64), ("prog_fd", u32), ("cookie", u64)]


class LinkCreateAttr(ctypes.Structure):
    """BPF_LINK_CREATE; ``extra`` is the start of the per-link-type union
    (perf_event.bpf_cookie, target_btf_id, iter_info...)."""

    _fields_ = [
        ("prog_fd", u32), ("target_fd", u32), ("attach_type", u32),
        ("flags", u32), ("extra", u64), ("extra2", u64),
    ]


class UprobeMultiAttr(ctypes.Structure):
    """BPF_LINK_CREATE for BPF_TRACE_UPROBE_MULTI (Linux 6.6+): the
    link_create.uprobe_multi union after the four common u32s."""

    _fields_ = [
        ("prog_fd", u32), ("target_fd", u32), ("attach_type", u32),
        ("flags", u32), ("path", u64), ("offsets", u64),
        ("ref_ctr_offsets", u64), ("cookies", u64), ("cnt", u32),
        ("uflags", u32), ("pid", u32),
    ]


class EnableStatsAttr(ctypes.Structure):
    """BPF_ENABLE_STATS."""

    _fields_ = [("type", u32)]


class MapInfo(ctypes.Structure):
    """struct bpf_map_info."""

    _fields_ = [
        ("type", u32), ("id", u32), ("key_size", u32), ("value_size", u32),
        ("max_entries", u32), ("map_flags", u32),
        ("name", ctypes.c_char * OBJ_NAME_LEN), ("ifindex", u32),
        ("btf_vmlinux_value_type_id", u32), ("netns_dev", u64),
        ("netns_ino", u64), ("btf_id", u32), ("btf_key_type_id", u32),
        ("btf_value_type_id", u32), ("btf_vmlinux_id", u32),
        ("map_extra", u64),
    ]


class ProgInfoStruct(ctypes.Structure):
    """struct bpf_prog_info (up to attach_btf_id)."""

    _fields_ = [
        ("type", u32), ("id", u32), ("tag", u8 * 8), ("jited_prog_len", u32),
        ("xlated_prog_len", u32), ("jited_prog_insns", u64),
        ("xlated_prog_insns", u64), ("load_time", u64),
        ("created_by_uid", u32), ("nr_map_ids", u32), ("map_ids", u64),
        ("name", ctypes.c_char * OBJ_NAME_LEN), ("ifindex", u32),
        ("gpl_compatible", u32), ("netns_dev", u64), ("netns_ino", u64),
        ("nr_jited_ksyms", u32), ("nr_jited_func_lens", u32),
        ("jited_ksyms", u64), ("jited_func_lens", u64), ("btf_id", u32),
        ("func_info_rec_size", u32), ("func_info", u64),
        ("nr_func_info", u32), ("nr_line_info", u32), ("line_info", u64),
        ("jited_line_info", u64), ("nr_jited_line_info", u32),
        ("line_info_rec_size", u32), ("jited_line_info_rec_size", u32),
        ("nr_prog_tags", u32), ("prog_tags", u64), ("run_time_ns", u64),
        ("run_cnt", u64), ("recursion_misses", u64), ("verified_insns", u32),
        ("attach_btf_obj_id", u32), ("attach_btf_id", u32),
    ]


class LinkInfo(ctypes.Structure):
    """struct bpf_link_info header (type, id, prog_id); the per-type union
    that follows is left as raw bytes."""

    _fields_ = [("type", u32), ("id", u32), ("prog_id", u32),
                ("union", u8 * 64)]


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr, PERF_ATTR_SIZE_VER8 (136 bytes).

    ``flags`` is the kernel's bitfield word (disabled, inherit, ... freq...),
    see consts.PerfAttrFlag; sample_period/sample_freq and
    wakeup_events/wakeup_watermark, config1/bp_addr, config2/bp_len share
    storage in the kernel and are one field each here.
    """

    _fields_ = [
        ("type", u32), ("size", u32), ("config", u64), ("sample_period", u64),
        ("sample_type", u64), ("read_format", u64), ("flags", u64),
        ("wakeup_events", u32), ("bp_type", u32), ("config1", u64),
        ("config2", u64), ("branch_sample_type", u64),
        ("sample_regs_user", u64), ("sample_stack_user", u32),
        ("clockid", s32), ("sample_regs_intr", u64), ("aux_watermark", u32),
        ("sample_max_stack", u16), ("reserved_2", u16),
        ("aux_sample_size", u32), ("aux_action", u32), ("sig_data", u64),
        ("config3", u64),
    ]


class ObjPinAttr(ctypes.Structure):
    """BPF_OBJ_PIN."""

    _fields_ = [("pathname", u64), ("bpf_fd", u32), ("file_flags", u32)]


class IterCreateAttr(ctypes.Structure):
    """BPF_ITER_CREATE."""

    _fields_ = [("link_fd", u32), ("flags", u32)]
