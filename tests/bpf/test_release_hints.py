"""bpf/features' release hints. missing_helper: a verifier log that names
an unknown or forbidden helper becomes a sentence naming the kernel release
that brings it (the lane's 5.10 guest sees it for real with for-over-map;
here the host's verifier refuses a helper id no kernel has and a helper the
program type may not call). map_create_hint: the hash key limit before 5.11."""

from __future__ import annotations

import os

import pytest

from bpfscope.bpf import features
from bpfscope.bpf.consts import ProgType
from bpfscope.bpf.prog import ProgLoadError, load_program

RELEASE = os.uname().release


def test_unknown_helper_names_its_release():
    log = "0: R1=ctx() R10=fp0\n0: (85) call unknown#164\ninvalid func unknown#164\nprocessed 1 insns"
    assert features.missing_helper(log) == (
        f"this kernel (Linux {RELEASE}) has no bpf_for_each_map_elem helper "
        "(for ($kv : @map) needs it); Linux 5.13 brings it")
    assert features.missing_helper("invalid func unknown#195\n") == (
        f"this kernel (Linux {RELEASE}) has no bpf_map_lookup_percpu_elem helper (reading a "
        "per-CPU map (count(), sum() ...) in a probe needs it); Linux 5.19 brings it")
    assert features.missing_helper("invalid func unknown#181\n") == (
        f"this kernel (Linux {RELEASE}) has no bpf_loop helper (a for range whose bounds "
        "are not literals needs it); Linux 5.17 brings it")
    # an id the table does not know is still named, without a release
    assert features.missing_helper("invalid func unknown#999") == \
        f"this kernel (Linux {RELEASE}) has no helper #999 helper"


def test_helper_the_program_type_may_not_call():
    assert features.missing_helper("unknown func bpf_get_func_ip#173\n") == (
        f"this kernel (Linux {RELEASE}) does not let this program type call bpf_get_func_ip "
        "(Linux 5.15 has it)")
    assert features.missing_helper("unknown func bpf_get_current_pid_tgid#14") == (
        f"this kernel (Linux {RELEASE}) does not let this program type call "
        "bpf_get_current_pid_tgid")


def test_other_verifier_complaints_are_not_missing_helpers():
    assert features.missing_helper("R1 invalid mem access 'scalar'") is None
    assert features.missing_helper("") is None


def test_real_verifier_logs(kernel, asm):
    def refused(prog_type, helper) -> str:
        with pytest.raises(ProgLoadError) as e:
            load_program(prog_type, asm.call(helper) + asm.mov_imm(0, 0) + asm.exit())
        return e.value.log
    # no kernel has helper 900; only kprobes may call bpf_override_return
    assert features.missing_helper(refused(ProgType.SOCKET_FILTER, 900)) == \
        f"this kernel (Linux {RELEASE}) has no helper #900 helper"
    assert features.missing_helper(refused(ProgType.SOCKET_FILTER, 58)) == \
        f"this kernel (Linux {RELEASE}) does not let this program type call bpf_override_return"


def test_map_create_hint_for_big_hash_keys():
    import errno
    from bpfscope.bpf.consts import MapType
    assert features.map_create_hint(MapType.PERCPU_HASH, 1024, errno.E2BIG) == (
        f"its keys are 1024 bytes and this kernel (Linux {RELEASE}) takes hash map keys of "
        "at most 512 bytes (Linux 5.11 lifts the limit); shorten the key, e.g. a lower "
        "max_strlen, str(x, N) or kstack(N)")
    assert features.map_create_hint(MapType.HASH, 512, errno.E2BIG) is None
    assert features.map_create_hint(MapType.ARRAY, 1024, errno.E2BIG) is None
    assert features.map_create_hint(MapType.HASH, 1024, errno.EPERM) is None


def test_called_helpers(asm):
    code = (asm.call(164) + asm.mov_imm(1, 0) + asm.call(14) + asm.call(164)
            + asm.ld_imm64(2, 5) + asm.insn(0x85, 0, 1, 0, 3) + asm.exit())  # 3: a bpf-to-bpf call
    assert features.called_helpers(code) == [164, 14]


def test_has_helper_and_missing_helper_of(kernel, asm):
    assert features.has_helper(asm.MAP_LOOKUP_ELEM)
    assert not features.has_helper(900)
    # every helper this kernel knows is not reported; one it lacks would be
    known = [h for h in features.HELPER_SINCE if features.has_helper(h)]
    assert features.missing_helper_of(b"".join(asm.call(h) for h in known) + asm.exit()) is None
    features.HELPER_SINCE[900] = ("bpf_future", "9.9", "")
    try:
        assert features.missing_helper_of(asm.call(1) + asm.call(900) + asm.exit()) == (
            f"this kernel (Linux {RELEASE}) has no bpf_future helper; Linux 9.9 brings it")
    finally:
        del features.HELPER_SINCE[900]
