"""The order the session attaches probes in: the script's, but probes of
types whose kernel hook runs its programs newest first (uprobes, USDT)
are attached in reverse among themselves, keeping the places of theirs."""

from types import SimpleNamespace

from bpfscope.runtime.session import _attach_order


def progs(*providers):
    return [SimpleNamespace(probe=SimpleNamespace(provider=p)) for p in providers]


def test_only_uprobes_are_reversed_in_their_own_places():
    assert _attach_order(progs("tracepoint", "uprobe", "interval", "uretprobe", "usdt")) == \
        [0, 4, 2, 3, 1]


def test_nothing_newest_first_keeps_the_scripts_order():
    assert _attach_order(progs("tracepoint", "interval", "BEGIN")) == [0, 1, 2]
    assert _attach_order([]) == []
