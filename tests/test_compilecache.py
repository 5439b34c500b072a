"""bpfscope.compilecache: the key follows what the compile reads, only
kernel-probe scripts are stored, and a file is trusted only when it is ours
and carries its key."""

import os
import pickle

import pytest

from bpfscope import api, compilecache

SCRIPT = 'BEGIN { printf("hi %d\\n", 1); @n = count(); }'


def test_key_follows_text_parameters_config_and_environment(monkeypatch):
    k = compilecache.key(SCRIPT, "stdin", [], None, {})
    assert k == compilecache.key(SCRIPT, "stdin", [], None, {})
    assert len(k) == 64
    others = {compilecache.key(SCRIPT + " ", "stdin", [], None, {}),
              compilecache.key(SCRIPT, "x.bt", [], None, {}),
              compilecache.key(SCRIPT, "stdin", ["1"], None, {}),
              compilecache.key(SCRIPT, "stdin", [], {"unsafe": 1}, {}),
              compilecache.key(SCRIPT, "stdin", [], None, {"a": "1"})}
    monkeypatch.setenv("BPFTRACE_MAX_STRLEN", "64")
    others.add(compilecache.key(SCRIPT, "stdin", [], None, {}))
    assert k not in others and len(others) == 6


@pytest.mark.parametrize("text", [
    'import "lib.bt"; BEGIN { }',
    'BEGIN { printf("%d\\n", elapsed); }',
    'BEGIN { @ = cgroupid("/sys/fs/cgroup"); }',
])
def test_scripts_that_read_the_host_or_the_clock_have_no_key(text):
    assert compilecache.key(text, "stdin", [], None, {}) is None


def test_store_and_load_in_a_directory_of_our_own(tmp_path):
    d = str(tmp_path / "compile")
    script = api.compile_script(SCRIPT)
    k = compilecache.key(SCRIPT, "stdin", [], None, {})
    assert compilecache.load(k, d) is None
    assert compilecache.store(k, script, d)
    assert (os.stat(d).st_mode & 0o777) == 0o700
    assert (os.stat(os.path.join(d, k)).st_mode & 0o777) == 0o600
    got = compilecache.load(k, d)
    assert [e.fmt for e in got.events.values()] == [e.fmt for e in script.events.values()]
    assert [p.program.insns for p in got.programs] == [p.program.insns for p in script.programs]
    # a file under another key's name, a broken one, a group-writable one: no cache
    other = "0" * 64
    os.rename(os.path.join(d, k), os.path.join(d, other))
    assert compilecache.load(other, d) is None and compilecache.load(k, d) is None
    with open(os.path.join(d, k), "wb") as f:
        f.write(k.encode() + b"\nnot a pickle")
    assert compilecache.load(k, d) is None
    assert compilecache.store(k, script, d)
    os.chmod(os.path.join(d, k), 0o620)
    assert compilecache.load(k, d) is None


def test_only_kernel_probe_scripts_are_stored(tmp_path, monkeypatch):
    d = str(tmp_path / "compile")
    script = api.compile_script(SCRIPT)
    assert compilecache.cacheable(script)
    monkeypatch.setattr(script.programs[0].probe, "load", {"attach_btf_obj_fd": 7})
    assert not compilecache.cacheable(script)  # an fd of this process
    monkeypatch.setattr(script.programs[0].probe, "load", {})
    monkeypatch.setattr(script.programs[0].probe, "provider", "uprobe")
    assert not compilecache.cacheable(script)
    assert not compilecache.store("a" * 64, script, d)


def test_the_newest_are_kept(tmp_path, monkeypatch):
    d = str(tmp_path / "compile")
    monkeypatch.setattr(compilecache, "KEEP", 3)
    script = api.compile_script(SCRIPT)
    keys = [f"{i:064x}" for i in range(5)]
    for i, k in enumerate(keys):
        assert compilecache.store(k, script, d)
        os.utime(os.path.join(d, k), ns=(i * 10**9, i * 10**9))
    compilecache.store(keys[4], script, d)
    assert sorted(os.listdir(d)) == keys[2:]


def test_api_uses_the_cache_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("BPFSCOPE_COMPILE_CACHE")
    api.compile_script(SCRIPT)
    assert not (tmp_path / "bpfscope" / "compile").exists()
    first = api.compile_script(SCRIPT, cache=True)
    [name] = os.listdir(tmp_path / "bpfscope" / "compile")
    # what is stored is what a later compile returns
    path = tmp_path / "bpfscope" / "compile" / name
    head, _, body = path.read_bytes().partition(b"\n")
    stored = pickle.loads(body)
    next(iter(stored.events.values())).fmt = "cached %d\n"
    path.write_bytes(head + b"\n" + pickle.dumps(stored))
    again = api.compile_script(SCRIPT, cache=True)
    assert next(iter(again.events.values())).fmt == "cached %d\n"
    assert next(iter(first.events.values())).fmt == "hi %d\n"
    assert api.compile_script(SCRIPT, cache=True, pid=os.getpid()).events[1].fmt == "hi %d\n"


def test_code_stamp_covers_every_module_of_bpfscope():
    # an edited or upgraded module (size or mtime) must give a new key
    root = os.path.dirname(os.path.abspath(compilecache.__file__))
    want = set()
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for f in files:
            if f.endswith((".py", ".bt")):
                st = os.stat(os.path.join(d, f))
                want.add((os.path.relpath(os.path.join(d, f), root), st.st_size, st.st_mtime_ns))
    stamp = compilecache._code_stamp()
    assert set(stamp) == want and len(stamp) == len(want)
    assert ("compilecache.py", os.path.getsize(compilecache.__file__),
            os.stat(compilecache.__file__).st_mtime_ns) in stamp


def test_key_follows_the_code_stamp(monkeypatch):
    k = compilecache.key(SCRIPT, "stdin", [], None, {})
    stamp = compilecache._code_stamp()
    changed = [(p, size + 1 if p == "api.py" else size, t) for p, size, t in stamp]
    monkeypatch.setattr(compilecache, "_code_stamp", lambda: changed)
    assert compilecache.key(SCRIPT, "stdin", [], None, {}) != k


# What a cached compile must not import (issue 18: start-up is mostly
# imports): the compiler's passes, the parser, code generation, BTF, the
# DWARF and ELF readers, the runtime and the other probe types.
NOT_ON_A_HIT = ("bpfscope.passes", "bpfscope.lang.parser", "bpfscope.sema.analyzer",
                "bpfscope.codegen.lower", "bpfscope.btf", "bpfscope.elf.dwarf",
                "bpfscope.elf.reader", "bpfscope.runtime.session", "bpfscope.attach.providers",
                "bpfscope.attach.kprobe", "bpfscope.functions")


def _cli_modules(tmp_path, args):
    import subprocess
    import sys
    code = ("import sys, bpfscope.cli as cli\n"
            f"code = cli.main({args!r})\n"
            "print(code, sorted(m for m in sys.modules if m.startswith('bpfscope')))\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop("BPFSCOPE_COMPILE_CACHE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    status, _, mods = out.rpartition("\n")[0].rpartition("\n")[2].partition(" ")
    return int(status), set(eval(mods))  # noqa: S307 - our own repr of a list of names


def test_a_cached_dry_run_imports_no_compiler_runtime_or_dwarf(tmp_path):
    args = ["--dry-run", "-e", SCRIPT]
    status, first = _cli_modules(tmp_path, args)
    assert status == 0
    assert os.listdir(tmp_path / "bpfscope" / "compile")  # the miss stored it
    assert "bpfscope.passes" in first  # and compiled: the test can fail
    status, second = _cli_modules(tmp_path, args)
    assert status == 0
    assert not second & set(NOT_ON_A_HIT), second & set(NOT_ON_A_HIT)
    assert "bpfscope.compilecache" in second and "bpfscope.codegen.script" in second
