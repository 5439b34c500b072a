"""Debian's packaged programs traced through their -dbg packages, checked
against gdb reading the same debug files: vsftpd (vsftpd-dbg: a small
server, its DWARF 5 in a build-id debug file) and the Lua 5.4 interpreter
(liblua5.4-0-dbg: dwz-compressed, built without frame pointers).

``-lv`` spells parameters as gdb does (typedef names, function pointers),
a function that gcc split into hot and cold parts has its arguments, a
real vsftpd on 127.0.0.1 is traced by argument name while a client logs
in, a source-line probe lands where gdb puts its breakpoint, and
dw_ustack() through the interpreter gives gdb's backtrace frame for frame
(inlined callers included) with gdb's source lines.

.ci/run installs the packages; without them (or without gdb) the tests
skip saying so. The -dbgsym packages of the debian-debug archive would be
the other source of such files, but that archive is not reachable here."""

from __future__ import annotations

import ftplib
import os
import re
import subprocess
import time

import pytest

pytestmark = pytest.mark.usefixtures("kernel")

VSFTPD = "/usr/sbin/vsftpd"
LUA = "/usr/bin/lua5.4"
LUA_RUN = [LUA, "-e", "for i=1,3 do local t={} t[1]=i t[2]=i end"]


def _need_debug(binary: str, package: str):
    from bpfscope.elf import ElfFile, find_debug_file
    if not os.path.exists(binary):
        pytest.skip(f"{binary} is not installed (.ci/run installs Debian's package of it)")
    with ElfFile(binary) as e:
        if find_debug_file(e) is None:
            pytest.skip(f"{package} is not installed (.ci/run installs it)")


def _gdb(debian_tool, *args: str) -> str:
    gdb = debian_tool("gdb", "gdb")
    r = subprocess.run([gdb, "-q", "-batch", "-nx", *args], capture_output=True, text=True,
                       timeout=120)
    return r.stdout


def _listing(e2e, spec: str) -> dict[str, list[str]]:
    r = e2e.run_cli("-lv", spec, timeout=120)
    assert r.returncode == 0, r.stderr
    out, cur = {}, None
    for ln in r.stdout.splitlines():
        if ln.startswith("uprobe:"):
            cur = out[ln.rsplit(":", 1)[1]] = []
        elif ln.startswith("    ") and cur is not None:
            cur.append(ln.strip())
    return out


def test_vsftpd_parameters_as_gdb_spells_them(e2e):
    _need_debug(VSFTPD, "vsftpd-dbg")
    got = _listing(e2e, f"uprobe:{VSFTPD}:*")
    # what gdb's "info args" types are, in bpftrace's spelling of pointers
    assert got["bio_callback"][0] == "BIO* p_bio"                     # a typedef, not struct bio_st
    assert got["hash_alloc"][3] == "hashfunc_t hash_func"
    assert got["vsf_sysutil_qsort"][3] == "int (*)(const void*, const void*) p_compar"
    assert got["vsf_sysutil_set_sighandler"] == ["int sig", "void (*)(int) p_handlefunc"]
    assert got["ssl_read_common"][4] == "int (*)(SSL*, void*, int) p_ssl_func"
    # split hot and cold by gcc (DW_AT_ranges, no low_pc): the hot part has them
    assert got["vsf_sysutil_recv_fd"] == ["const int sock_fd"]
    assert got["vsf_sysutil_recv_fd.cold"] == []
    assert got["vsf_cmdio_write"] == ["struct vsf_session* p_sess", "int status",
                                      "const char* p_text"]


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vsftpd_server_traced_by_argument_name(e2e, tmp_path):
    _need_debug(VSFTPD, "vsftpd-dbg")
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o555)
    os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
    port = _free_port()
    conf = tmp_path / "vsftpd.conf"
    conf.write_text("\n".join([
        "listen=YES", "listen_address=127.0.0.1", f"listen_port={port}", "background=NO",
        "anonymous_enable=YES", "local_enable=NO", "write_enable=NO", f"anon_root={root}",
        "secure_chroot_dir=/var/run/vsftpd/empty", "seccomp_sandbox=NO", "pasv_enable=NO",
        "max_clients=2", ""]))
    server = subprocess.Popen([VSFTPD, str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        # the server's session processes are its grandchildren (privilege
        # separation); no other vsftpd runs on a test machine
        t = e2e.Trace("-e", f'uprobe:{VSFTPD}:vsf_cmdio_write '
                            f'{{ printf("%d %s\\n", args.status, str(args.p_text)); '
                            f'if (args.status == 200) {{ exit(); }} }}')
        for _ in range(100):
            try:
                ftp = ftplib.FTP()
                ftp.connect("127.0.0.1", port, timeout=10)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"vsftpd did not listen: {server.stderr.read1().decode()}")
        ftp.login()
        ftp.sendcmd("NOOP")
        ftp.quit()
        out, err = t.finish(timeout=30)
    finally:
        server.kill()
        server.wait()
        if "t" in locals() and t.proc.poll() is None:
            t.proc.kill()
    out = out.decode() if isinstance(out, bytes) else out
    lines = [ln for ln in out.splitlines() if re.match(r"\d{3} ", ln)]
    assert lines == ["220 (vsFTPd 3.0.3)", "331 Please specify the password.",
                     "230 Login successful.", "200 NOOP ok."], (out, err)


def test_lua_source_line_where_gdb_breaks(e2e, debian_tool):
    _need_debug(LUA, "liblua5.4-0-dbg")
    text = _gdb(debian_tool, "-ex", "break ltable.c:625", LUA)
    m = re.search(r"Breakpoint 1 at (0x[0-9a-f]+): file \./ltable\.c, line 625\.", text)
    if m is None:
        pytest.skip(f"gdb gave no single breakpoint for ltable.c:625: {text[-200:]}")
    r = e2e.run_prog(f"uprobe:{LUA}@ltable.c:625 {{ @[usym(reg(\"ip\"))] = count(); "
                     f"@off[reg(\"ip\") - (uint64)uaddr(\"luaH_new\")] = count(); }}",
                     "-c", " ".join(f"'{a}'" if " " in a else a for a in LUA_RUN))
    want = int(m.group(1), 16) - int(re.search(r"luaH_new.*?(0x[0-9a-f]+)",
                                               _gdb(debian_tool, "-ex", "info address luaH_new",
                                                    LUA)).group(1), 16)
    assert re.search(r"^@\[luaH_new\]: \d+$", r.stdout, re.M), r.stdout
    assert re.search(rf"^@off\[{want}\]: \d+$", r.stdout, re.M), r.stdout


def _gdb_frames(text: str) -> list[tuple[str, str]]:
    """(function, file:line) of each frame of a gdb backtrace."""
    out = []
    for m in re.finditer(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\w+) \(.*\) at (\S+:\d+)$", text, re.M):
        out.append((m.group(1), m.group(2)))
    return out


def test_lua_dw_ustack_is_gdbs_backtrace(e2e, debian_tool):
    _need_debug(LUA, "liblua5.4-0-dbg")
    bt = _gdb_frames(_gdb(debian_tool, "-ex", "break luaH_resize if newasize == 4", "-ex", "run",
                          "-ex", "bt", "--args", *LUA_RUN))
    if len(bt) < 5:
        pytest.skip("gdb could not run the interpreter to luaH_resize here")
    r = e2e.run_prog(f"uprobe:{LUA}:luaH_resize /args.newasize == 4/ {{ @[dw_ustack()] = count(); }}",
                     "-c", " ".join(f"'{a}'" if " " in a else a for a in LUA_RUN))
    key = re.search(r"^@\[\n(.*?)\]: 1$", r.stdout, re.S | re.M)
    assert key, r.stdout
    ours = []
    for ln in key.group(1).splitlines():
        m = re.match(r"\s+(?:\[inlined\] )?(\w+)(?:\+\d+)?@(\S+:\d+)$", ln)
        if m:
            ours.append((m.group(1), m.group(2)))
    # gdb stops at main; the stack goes on into libc's start code
    assert ours[:len(bt)] == bt, (ours, bt)
