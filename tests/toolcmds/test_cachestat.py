"""cachestat's script, bcc's arithmetic and line layout."""

from __future__ import annotations

from bpfscope import api
from bpfscope.runtime.values import MapData
from bpfscope.toolcmds import cachestat


def plan(*argv):
    return cachestat.build(cachestat.parser().parse_args(list(argv)))


def test_script_counts_pages():
    p = plan("-p", "9", "2", "5")
    text = p.text
    assert "tracepoint:filemap:mm_filemap_map_pages /pid == 9/ {\n" \
        "  @access = sum(args.last_index - args.index + 1);" in text
    assert "if (!has_key(@__writing, tid)) { @added = sum(1 << args.order); }" in text
    assert "tracepoint:syscalls:sys_exit_pwritev2 /pid == 9/ {\n  delete(@__writing[tid]);" in text
    assert "interval:s:2 {" in text and "@__ticks >= 5" in text and p.pid == 9
    api.check_syntax(text)


def test_hits_misses_as_bcc_makes_them():
    assert cachestat.ratio_line(100, 25) == (75, 25, 75.0)
    assert cachestat.ratio_line(10, 40) == (0, 40, 0.0)        # read-ahead: all missed
    assert cachestat.ratio_line(0, 0) == (0, 0, 0.0)


def test_line_layout(monkeypatch, tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal: 100 kB\nBuffers:  49152 kB\nCached:  1062912 kB\n")
    assert cachestat.meminfo_mb(str(info)) == (48, 1038)
    monkeypatch.setattr(cachestat, "meminfo_mb", lambda: (48, 1038))
    p = plan()
    assert p.banner == "    HITS   MISSES  DIRTIES HITRATIO   BUFFERS_MB  CACHED_MB\n"
    out = "".join(p.formats[m](MapData(m, "sum", [((), v)]))
                  for m, v in zip(cachestat.MAPS, (271, 256, 7)))
    assert out == "      15      256        7    5.54%           48       1038\n"
    p = plan("-T")
    assert p.banner.startswith("TIME         HITS ")
    out = "".join(p.formats[m](MapData(m, "sum", [])) for m in cachestat.MAPS)
    assert out[8:] == " " + "       0        0        0    0.00%           48       1038\n"
