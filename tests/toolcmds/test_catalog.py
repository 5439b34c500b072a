"""The tool catalog: names, descriptions and whether a kernel runs them."""

from __future__ import annotations

from bpfscope import toolcmds


class _Prov:
    def __init__(self, why):
        self.why = why

    def status(self):
        return self.why


def test_hook_status(monkeypatch, tmp_path):
    provs = {"kprobe": _Prov("no kprobes"), "fentry": _Prov("no fentry"),
             "tracepoint": _Prov(None), "uprobe": _Prov(None)}
    monkeypatch.setattr(toolcmds.providers, "PROVIDERS", provs)
    monkeypatch.setattr(toolcmds.providers, "ALIASES", {"k": "kprobe", "t": "tracepoint"})
    (tmp_path / "sched" / "sched_switch").mkdir(parents=True)
    monkeypatch.setattr(toolcmds, "EVENTS_DIR", str(tmp_path))
    assert toolcmds.hook_status(["uprobe:/bin/sh:main", "t:sched:sched_switch"]) is None
    assert toolcmds.hook_status(["t:sched:nope"]) == "this kernel has no tracepoint sched:nope"
    assert toolcmds.hook_status(["k:vfs_read"]) == "no kprobes and no fentry"
    provs["fentry"] = _Prov(None)      # a kprobe runs as fentry there
    assert toolcmds.hook_status(["k:vfs_read"]) is None


def test_bt_hooks_and_summary(tmp_path):
    bt = tmp_path / "x.bt"
    bt.write_text("#!/usr/bin/env bpfscope\n/*\n * x: counts the things. More text.\n"
                  " * kprobe:in_a_comment\n */\n"
                  "tracepoint:sched:sched_switch,\n  kprobe:vfs_read { @ = count(); }\n"
                  "END { printf(\"a:b\\n\"); }\n")
    assert toolcmds.bt_hooks(str(bt)) == ["tracepoint:sched:sched_switch", "kprobe:vfs_read"]
    assert toolcmds.bt_summary(str(bt)) == "counts the things."


def test_every_tool_module_is_documented_and_listed():
    for name in toolcmds.NAMES:
        module = toolcmds.find(name)
        assert module.__doc__.startswith(f"{name}: ") and module.parser().epilog
        assert toolcmds.summary(module)
    assert toolcmds.find("opensnoop") is None      # a .bt script, run as a file


def test_help_of_a_bt_tool_is_its_comment_and_bpfscopes_options():
    text = toolcmds.bt_help("syscount")
    assert text.startswith("usage: bpfscope [options] syscount [script parameters]\n\n"
                           "syscount: system calls by process name, and the busiest syscall ids.\n\n")
    assert "  -c CMD " in text and "\nexamples:\n    bpfscope syscount " in text
    assert toolcmds.bt_help("nosuchtool") is None


def test_a_script_taking_a_symbols_address_needs_the_symbol(monkeypatch, tmp_path):
    class Table:
        def lookup_name(self, name):
            return {"jiffies": 0xffffffff81000000}.get(name)
    import bpfscope.ksyms
    monkeypatch.setattr(bpfscope.ksyms, "kernel_symbols", lambda: Table())
    monkeypatch.setattr(toolcmds, "hook_status", lambda specs: None)
    bt = tmp_path / "x.bt"
    bt.write_text('/* x: kaddr("in_a_comment") */\n'
                  'BEGIN { @a = *kaddr("jiffies"); @b = kaddr( "avenrun" ); }\n')
    assert toolcmds.bt_kaddrs(str(bt)) == ["jiffies", "avenrun"]
    assert toolcmds.script_status(str(bt)) == "/proc/kallsyms has no symbol avenrun"
    bt.write_text('BEGIN { @a = kaddr("jiffies"); }\n')
    assert toolcmds.script_status(str(bt)) is None
