"""The SVG flame graph in a real browser: headless Chromium loads the file,
runs its script and dumps the resulting DOM.

Needs /usr/bin/chromium (Debian: ``apt-get install chromium``); skipped
with the reason otherwise.  The browser is started with networking
features off and a throw-away profile directory.
"""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from bpfscope.output.flamegraph import XPAD, render_svg

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="chromium not installed (apt-get install chromium) at /usr/bin/chromium")

NS = {"s": "http://www.w3.org/2000/svg"}

SAMPLES = [
    (["bash", "main", "readline", "do_syscall_64", "vfs_read"], 50),
    (["bash", "main", "fork", "do_syscall_64", "kernel_clone"], 30),
    (["sshd", "main", "select", "do_syscall_64", "do_select"], 20),
    (["swapper/0", "do_idle", "default_idle_call"], 100),
]
TOTAL = 200


def chromium(tmp_path, url, *extra):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
            *extra, url]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def dump(tmp_path, query="", **options):
    path = tmp_path / "fg.svg"
    path.write_text(render_svg(SAMPLES, **options))
    dom = chromium(tmp_path, f"file://{path}{query}", "--dump-dom")
    root = ET.fromstring(dom)
    # The script ran to its end without an exception.
    assert root.get("data-fg-ready") == "1"
    frames = []
    for g in root.find("s:g[@id='frames']", NS).findall("s:g", NS):
        rect = g.find("s:rect", NS)
        frames.append({
            "name": g.find("s:title", NS).text.rsplit(" (", 1)[0],
            "d": int(g.get("data-d")), "s": int(g.get("data-s")),
            "classes": set((g.get("class") or "").split()),
            "w": float(rect.get("width")), "x": float(rect.get("x")),
            "label": g.find("s:text", NS).text or ""})
    texts = {t.get("id"): (t.text or "") for t in root.findall("s:text", NS)}
    texts["unzoom.class"] = root.find("s:text[@id='unzoom']", NS).get("class") or ""
    return frames, texts


def test_frames_rendered_with_labels(tmp_path):
    frames, texts = dump(tmp_path, title="chromium check")
    assert texts["title"] == "chromium check"
    assert "hide" in texts["unzoom.class"]
    names = {f["name"] for f in frames}
    assert names == {"all", "bash", "main", "readline", "fork", "select",
                     "do_syscall_64", "vfs_read", "kernel_clone", "sshd",
                     "do_select", "swapper/0", "do_idle", "default_idle_call"}
    assert len(frames) == 17      # main and do_syscall_64 appear more than once
    wide = [f for f in frames if f["w"] > 200]
    assert wide and all(f["label"] == f["name"] for f in wide)
    assert all(not f["classes"] - {"f"} for f in frames)


def test_search_highlights_and_reports_share(tmp_path):
    frames, texts = dump(tmp_path, "?s=do_sys|vfs_")
    hits = {(f["name"], f["s"]) for f in frames if "match" in f["classes"]}
    assert hits == {("do_syscall_64", 0), ("do_syscall_64", 30),
                    ("do_syscall_64", 80), ("vfs_read", 30)}
    # vfs_read lies under a matching do_syscall_64: counted once.
    assert texts["matched"] == f"Matched: {100 * 100 / TOTAL:.2f}%"
    assert texts["search"] == "Reset Search"


def test_zoom_from_query(tmp_path):
    frames, texts = dump(tmp_path, "?z=2,0", width=1000)   # bash;main
    by = {(f["name"], f["d"], f["s"]): f for f in frames}
    plot = 1000 - 2 * XPAD
    main = by[("main", 2, 0)]
    assert main["x"] == XPAD and main["w"] == pytest.approx(plot, abs=0.01)
    for key in (("all", 0, 0), ("bash", 1, 0)):
        assert "parent" in by[key]["classes"]
        assert by[key]["w"] == pytest.approx(plot, abs=0.01)
    fork = by[("fork", 3, 0)]
    assert fork["w"] == pytest.approx(plot * 30 / 80, abs=0.01)
    assert fork["label"] == "fork"
    for key in (("sshd", 1, 80), ("swapper/0", 1, 100), ("do_idle", 2, 100)):
        assert "hide" in by[key]["classes"]
    assert "hide" not in texts["unzoom.class"]


def test_bad_regex_reported(tmp_path):
    frames, texts = dump(tmp_path, "?s=%28unclosed")
    assert texts["matched"] == "Invalid regular expression"
    assert not any("match" in f["classes"] for f in frames)


def test_screenshot(tmp_path):
    path = tmp_path / "fg.svg"
    path.write_text(render_svg(SAMPLES, icicle=True))
    shot = tmp_path / "fg.png"
    chromium(tmp_path, f"file://{path}", f"--screenshot={shot}",
             "--window-size=1200,300")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


HARNESS = """<!DOCTYPE html><html><body>
<iframe id="f" src="fg.svg" width="1200" height="300"></iframe><pre id="out"></pre>
<script>
document.getElementById("f").addEventListener("load", function () {
  var d = this.contentDocument, w = this.contentWindow, out = [];
  function fire(el, type) { el.dispatchEvent(new MouseEvent(type, {bubbles: true})); }
  function rect(sel) { return d.querySelector(sel).querySelector("rect"); }
  var main = 'g.f[data-d="2"][data-s="0"]';
  fire(rect(main), "mouseover");
  out.push("details=" + d.getElementById("details").textContent);
  fire(rect(main), "click");
  out.push("zoomed=" + rect(main).getAttribute("width"));
  out.push("sshd=" + d.querySelector('g.f[data-s="80"][data-d="1"]').getAttribute("class"));
  fire(d.getElementById("unzoom"), "click");
  out.push("unzoomed=" + rect(main).getAttribute("width"));
  fire(rect(main), "click");
  w.flamegraph.search("fork");
  w.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
  out.push("escaped=" + rect(main).getAttribute("width") + " " +
           d.querySelectorAll("g.match").length + " [" +
           d.getElementById("matched").textContent + "]");
  document.getElementById("out").textContent = out.join("\\n");
});
</script></body></html>
"""


def test_hover_click_zoom_unzoom_escape(tmp_path):
    (tmp_path / "fg.svg").write_text(render_svg(SAMPLES, width=1000))
    (tmp_path / "h.html").write_text(HARNESS)
    dom = chromium(tmp_path, f"file://{tmp_path / 'h.html'}",
                   "--allow-file-access-from-files",
                   "--virtual-time-budget=5000", "--dump-dom")
    out = dom.split('<pre id="out">', 1)[1].split("</pre>", 1)[0]
    assert out.splitlines() == [
        "details=main (80 samples, 40.00%)",
        "zoomed=980",
        "sshd=f hide",
        "unzoomed=392",
        "escaped=392 0 [ ]",
    ]
