"""SVG flame graphs: layout, drawing, labels, colours, escaping, options."""

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from bpfscope.output.flamegraph import (CHAR_WIDTH, XPAD, FrameBox, fit_label,
                                        frame_color, layout, render_svg,
                                        write_svg)

NS = {"s": "http://www.w3.org/2000/svg"}

SAMPLES = [
    (["bash", "main", "readline", "read"], 50),
    (["bash", "main", "fork"], 30),
    (["swapper", "idle"], 120),
    (["bash", "main"], 20),
]


def frames_of(svg_text):
    root = ET.fromstring(svg_text)
    out = []
    for g in root.find("s:g[@id='frames']", NS).findall("s:g", NS):
        assert g.get("class") == "f"
        rect, text, title = (g.find("s:rect", NS), g.find("s:text", NS),
                             g.find("s:title", NS))
        out.append({"d": int(g.get("data-d")), "s": int(g.get("data-s")),
                    "v": int(g.get("data-v")), "title": title.text,
                    "x": float(rect.get("x")), "y": float(rect.get("y")),
                    "w": float(rect.get("width")), "fill": rect.get("fill"),
                    "label": text.text or "", "tx": float(text.get("x"))})
    return root, out


def test_layout_tree_sorted_by_name():
    assert layout(SAMPLES) == [
        FrameBox("all", 0, 0, 220),
        FrameBox("bash", 1, 0, 100),
        FrameBox("main", 2, 0, 100),
        FrameBox("fork", 3, 0, 30),
        FrameBox("readline", 3, 30, 50),
        FrameBox("read", 4, 30, 50),
        FrameBox("swapper", 1, 100, 120),
        FrameBox("idle", 2, 100, 120),
    ]


def test_layout_empty():
    assert layout([]) == [FrameBox("all", 0, 0, 0)]


def test_rects_sized_by_samples():
    root, frames = frames_of(render_svg(SAMPLES, width=1000))
    assert root.get("width") == "1000"
    plot = 1000 - 2 * XPAD
    assert len(frames) == 8
    for f in frames:
        assert f["w"] == pytest.approx(f["v"] * plot / 220, abs=0.01)
        assert f["x"] == pytest.approx(XPAD + f["s"] * plot / 220, abs=0.01)
        assert f["tx"] == pytest.approx(f["x"] + 3, abs=0.01)
    by_title = {f["title"]: f for f in frames}
    assert set(by_title) == {
        "all (220 samples, 100.00%)", "bash (100 samples, 45.45%)",
        "main (100 samples, 45.45%)", "fork (30 samples, 13.64%)",
        "readline (50 samples, 22.73%)", "read (50 samples, 22.73%)",
        "swapper (120 samples, 54.55%)", "idle (120 samples, 54.55%)"}


def test_flame_root_at_bottom_icicle_at_top():
    _, flame = frames_of(render_svg(SAMPLES))
    ys = {f["d"]: f["y"] for f in flame}
    assert ys[0] > ys[1] > ys[2] > ys[3] > ys[4]
    assert all(ys[d] - ys[d + 1] == 16 for d in range(4))
    root, icicle = frames_of(render_svg(SAMPLES, icicle=True, frame_height=20))
    ys = {f["d"]: f["y"] for f in icicle}
    assert ys[0] < ys[1] < ys[2] < ys[3] < ys[4]
    assert all(ys[d + 1] - ys[d] == 20 for d in range(4))
    assert root.find("s:text[@id='title']", NS).text == "Icicle Graph"


def test_title_subtitle_and_controls():
    root, _ = frames_of(render_svg(SAMPLES, title="CPU <on> & off",
                                   subtitle="pid 42"))
    texts = {t.get("id"): t.text for t in root.findall("s:text", NS)}
    assert texts["title"] == "CPU <on> & off"
    assert texts["subtitle"] == "pid 42"
    assert texts["search"] == "Search"
    assert texts["unzoom"] == "Reset Zoom"
    assert "details" in texts and "matched" in texts
    assert root.find("s:text[@id='title']", NS).get("x") == "600"


def test_fit_label():
    per_char = 12 * CHAR_WIDTH
    assert fit_label("short", 6 + 5 * per_char, 12) == "short"
    assert fit_label("longername", 6 + 6 * per_char, 12) == "long.."
    assert fit_label("abc", 6 + 2.9 * per_char, 12) == ""
    assert fit_label("anything", 1, 12) == ""


def test_labels_truncated_to_fit():
    long = "a_really_long_function_name_that_cannot_fit_" * 3
    samples = [(["main", long], 10), (["main", "other"], 990)]
    _, frames = frames_of(render_svg(samples, width=1000))
    f = next(f for f in frames if f["title"].startswith(long))
    assert f["label"] == "" or (f["label"].endswith("..") and
                                len(f["label"]) * 12 * CHAR_WIDTH <= f["w"])
    _, frames = frames_of(render_svg([(["main", long], 1)], width=600))
    f = next(f for f in frames if f["d"] == 2)
    assert f["label"] == fit_label(long, f["w"], 12)
    assert f["label"].endswith("..") and len(f["label"]) > 10
    main = next(f for f in frames if f["d"] == 1)
    assert main["label"] == "main"


def test_colours_stable_warm_and_by_function():
    assert frame_color("vfs_read") == frame_color("vfs_read")
    assert frame_color("vfs_read+5") == frame_color("vfs_read+0x1f") == \
        frame_color("vfs_read")
    names = [f"func_{i}" for i in range(200)]
    colours = {frame_color(n) for n in names}
    assert len(colours) > 150
    for c in colours:
        r, g, b = map(int, re.fullmatch(r"rgb\((\d+),(\d+),(\d+)\)", c).groups())
        assert 205 <= r <= 255 and 0 <= g <= 230 and 0 <= b <= 55
    assert frame_color("x", "io") != frame_color("x", "hot")
    with pytest.raises(ValueError):
        frame_color("x", "rainbow")
    _, frames = frames_of(render_svg(SAMPLES))
    assert all(f["fill"] == frame_color(f["title"].split(" (")[0])
               for f in frames)


def test_names_escaped():
    weird = ['<script>alert("x")</script>', "a&b", "semi;colon",
             "new\nline", "nul\x00byte", "ünï😀"]
    text = render_svg([(weird, 1)])
    assert "<script>alert" not in text
    _, frames = frames_of(text)
    titles = [f["title"].rsplit(" (", 1)[0] for f in frames[1:]]
    assert titles == ['<script>alert("x")</script>', "a&b", "semi\\x3bcolon",
                      "new\\nline", "nul\\x00byte", "ünï😀"]


def test_min_width_drops_tiny_frames_and_children():
    samples = [(["big"], 100000), (["tiny", "child"], 1)]
    _, frames = frames_of(render_svg(samples, width=1000, min_width=0.1))
    names = {f["title"].split(" ")[0] for f in frames}
    assert names == {"all", "big"}
    _, frames = frames_of(render_svg(samples, width=1000, min_width=0))
    assert {f["title"].split(" ")[0] for f in frames} == \
        {"all", "big", "tiny", "child"}


def test_height_follows_depth():
    shallow = ET.fromstring(render_svg([(["a"], 1)]))
    deep = ET.fromstring(render_svg([([f"f{i}" for i in range(30)], 1)]))
    assert float(deep.get("height")) - float(shallow.get("height")) == 29 * 16


def test_empty_profile():
    root, frames = frames_of(render_svg([], count_name="bytes"))
    assert frames == []
    assert root.find("s:text[@id='empty']", NS).text == "No bytes"


def test_count_name_and_bad_options():
    _, frames = frames_of(render_svg([(["a"], 1234)], count_name="bytes"))
    assert frames[0]["title"] == "all (1,234 bytes, 100.00%)"
    with pytest.raises(ValueError):
        render_svg(SAMPLES, width=10)
    with pytest.raises(ValueError):
        render_svg(SAMPLES, palette="nope")


def test_self_contained():
    text = render_svg(SAMPLES, title="http://example.invalid")
    body = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    body = body.replace("http://example.invalid", "")
    assert "http" not in body and "href" not in body and "<image" not in body
    assert "@import" not in body and "src=" not in body
    script = text.split("<![CDATA[", 1)[1].split("]]>", 1)[0]
    assert "]]>" not in script and "fetch(" not in script
    assert "XMLHttpRequest" not in script


def test_write_svg():
    buf = io.StringIO()
    write_svg(SAMPLES, buf, title="t")
    assert buf.getvalue() == render_svg(SAMPLES, title="t")


@pytest.mark.skipif(shutil.which("node") is None,
                    reason="node not installed: embedded script syntax unchecked")
def test_embedded_script_parses(tmp_path):
    text = render_svg(SAMPLES)
    script = text.split("<![CDATA[", 1)[1].split("]]>", 1)[0]
    path = tmp_path / "fg.js"
    path.write_text(script)
    subprocess.run(["node", "--check", str(path)], check=True, timeout=60)
