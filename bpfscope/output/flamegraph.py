"""Interactive flame graphs as one self-contained SVG file.

Input is the list of samples of :mod:`bpfscope.output.folded` (frames root
first, counts).  :func:`layout` merges the stacks into a tree and gives each
frame its place in *sample units*: ``depth`` (0 is the root frame ``all``),
``start`` (samples to its left) and ``count`` (its width).  Siblings are
sorted by name, so the picture does not depend on sample order and the
x axis is not time.

:func:`render_svg` draws one ``<g class="f">`` per frame holding a
``<title>`` (``name (N samples, P%)``, shown by the browser on hover), a
``<rect>`` and a ``<text>`` label cut to the width with ``..``.  Frames
narrower than ``min_width`` pixels are left out with their children, which
keeps files of big profiles small.  Colours come from a hash of the name
(without a trailing ``+offset``, so one function keeps one colour), mapped
into a palette: ``hot`` (reds to yellows, the default), ``mem`` (greens) or
``io`` (blues).  A flame graph has the root at the bottom; ``icicle=True``
puts it at the top.

The SVG works unscripted (image viewers show the frames, labels and
tooltips).  Opened in a browser, its embedded script (written for this
module, no network, no external files) adds:

* a details line at the bottom showing the hovered frame;
* click a frame to zoom (it fills the width, its ancestors are faded,
  other frames hidden); "Reset Zoom", a click on ``all`` or Escape undoes;
* "Search" (or Ctrl-F) asks for a regular expression, highlights the
  matching frames and shows the share of samples under them
  ("Matched: P%", nested matches counted once); clicking again or Escape
  clears it;
* the URL query ``?s=REGEX`` searches and ``?z=DEPTH,START`` zooms on load,
  for links and for headless tests.  When the script has run, the root
  element carries ``data-fg-ready="1"``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from bpfscope.output.folded import Sample, merge_samples, sanitize_frame

ROOT_NAME = "all"
CHAR_WIDTH = 0.59           # average glyph width / font size (Verdana-ish)
XPAD = 10

# (base, range) for r, g, b: colour = base + range * hash byte / 255.
PALETTES = {
    "hot": ((205, 50), (0, 230), (0, 55)),
    "mem": ((0, 0), (190, 50), (0, 210)),
    "io": ((80, 60), (80, 60), (190, 55)),
}

_OFFSET = re.compile(r"\+(0x[0-9a-fA-F]+|\d+)$")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FrameBox:
    """One frame of the graph, in sample units."""

    name: str
    depth: int
    start: int
    count: int


def layout(samples: Iterable[Sample]) -> list[FrameBox]:
    """Frames of the merged call tree, parents before children.

    The root (``all``, depth 0) spans every sample; a frame's children
    follow each other from its left edge, sorted by name; what is left at
    its right is the frame's own (self) samples.
    """
    root: dict = {}
    total = 0
    for stack, count in merge_samples(samples):
        total += count
        node = root
        for name in stack:
            entry = node.get(name)
            if entry is None:
                entry = node[name] = [0, {}]
            entry[0] += count
            node = entry[1]
    boxes = [FrameBox(ROOT_NAME, 0, 0, total)]

    def walk(children: dict, depth: int, start: int) -> None:
        for name in sorted(children):
            count, sub = children[name]
            boxes.append(FrameBox(name, depth, start, count))
            walk(sub, depth + 1, start)
            start += count

    walk(root, 1, 0)
    return boxes


def frame_color(name: str, palette: str = "hot") -> str:
    """A stable ``rgb(r,g,b)`` for a frame name (same name, same colour,
    on every run and machine)."""
    try:
        channels = PALETTES[palette]
    except KeyError:
        raise ValueError(f"palette must be one of {', '.join(PALETTES)}") from None
    key = _OFFSET.sub("", name).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(key, digest_size=3).digest()
    rgb = (base + span * b // 255 for (base, span), b in zip(channels, digest))
    return "rgb({},{},{})".format(*rgb)


def fit_label(name: str, width: float, font_size: float) -> str:
    """``name`` cut to fit ``width`` pixels (``..`` marks the cut); empty
    when not even three characters fit.  The script uses the same rule."""
    n = int((width - 6) / (font_size * CHAR_WIDTH))
    if n < 3:
        return ""
    return name if len(name) <= n else name[:n - 2] + ".."


def _text(s: str) -> str:
    """Escaped for XML text and attributes; characters XML cannot hold are
    written as ``\\xNN``/``\\uNNNN``."""
    s = _XML_BAD.sub(lambda m: f"\\u{ord(m.group()):04x}"
                     if ord(m.group()) > 0xff else f"\\x{ord(m.group()):02x}", s)
    # by hand: xml.sax.saxutils imports urllib.request (15 ms at start-up)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _num(x: float) -> str:
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return s if s != "-0" else "0"


def render_svg(samples: Iterable[Sample], *, title: str | None = None,
               subtitle: str | None = None, width: int = 1200,
               frame_height: int = 16, font_size: float = 12,
               font_family: str = "Verdana, sans-serif",
               min_width: float = 0.1, icicle: bool = False,
               palette: str = "hot", count_name: str = "samples") -> str:
    """The flame graph as SVG text (see the module doc for the options)."""
    if width < 2 * XPAD + 10:
        raise ValueError(f"width must be at least {2 * XPAD + 10} pixels")
    if palette not in PALETTES:
        raise ValueError(f"palette must be one of {', '.join(PALETTES)}")
    if title is None:
        title = "Icicle Graph" if icicle else "Flame Graph"
    boxes = layout(samples)
    total = boxes[0].count
    plot = width - 2 * XPAD
    scale = plot / total if total else 0.0

    # Keep frames at least min_width wide; children of a dropped frame
    # are narrower still, so dropping by width alone keeps the tree whole.
    shown = [b for b in boxes if b.depth == 0 or b.count * scale >= min_width]
    if not total:
        shown = []
    depth = max((b.depth for b in shown), default=0) + 1

    fh, fs = frame_height, font_size
    top = fs * 3 + (fs * 1.5 if subtitle else 0)
    bottom = fs * 2 + 10
    height = top + depth * fh + bottom

    def frame_y(d: int) -> float:
        if icicle:
            return top + d * fh
        return top + (depth - 1 - d) * fh

    config = {"total": total, "xpad": XPAD, "plotWidth": plot,
              "fontSize": fs, "charWidth": CHAR_WIDTH, "countName": count_name}

    out = [
        '<?xml version="1.0" standalone="no"?>\n',
        f'<svg version="1.1" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{_num(height)}" '
        f'viewBox="0 0 {width} {_num(height)}">\n',
        "<defs>\n"
        '<linearGradient id="background" y1="0" y2="1" x1="0" x2="0">\n'
        '<stop stop-color="#eeeeee" offset="5%"/>\n'
        '<stop stop-color="#eeeeb0" offset="95%"/>\n'
        "</linearGradient>\n</defs>\n",
        "<style>\n",
        f"text {{ font-family: {_text(font_family)}; font-size: {_num(fs)}px; "
        "fill: rgb(0,0,0); }\n",
        f"#title {{ text-anchor: middle; font-size: {_num(fs + 5)}px; }}\n",
        "#subtitle { text-anchor: middle; fill: rgb(160,160,160); }\n",
        "#search, #matched { text-anchor: end; }\n",
        "#search, #unzoom { cursor: pointer; opacity: 0.6; }\n",
        "#search:hover, #unzoom:hover { opacity: 1; }\n",
        ".f { cursor: pointer; }\n",
        ".f text { pointer-events: none; }\n",
        ".f:hover > rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n",
        ".parent { opacity: 0.5; }\n",
        ".match > rect { fill: rgb(230,0,230); }\n",
        ".hide { display: none; }\n",
        "</style>\n",
        f'<rect x="0" y="0" width="{width}" height="{_num(height)}" '
        'fill="url(#background)"/>\n',
        f'<text id="title" x="{_num(width / 2)}" y="{_num(fs * 2)}">'
        f"{_text(title)}</text>\n",
    ]
    if subtitle:
        out.append(f'<text id="subtitle" x="{_num(width / 2)}" '
                   f'y="{_num(fs * 3.5)}">{_text(subtitle)}</text>\n')
    out += [
        f'<text id="unzoom" class="hide" x="{XPAD}" y="{_num(fs * 2)}">'
        "Reset Zoom</text>\n",
        f'<text id="search" x="{width - XPAD}" y="{_num(fs * 2)}">'
        "Search</text>\n",
        f'<text id="details" x="{XPAD}" y="{_num(height - fs / 2 - 5)}"> </text>\n',
        f'<text id="matched" x="{width - XPAD}" y="{_num(height - fs / 2 - 5)}">'
        " </text>\n",
    ]
    if not shown:
        out.append(f'<text id="empty" x="{_num(width / 2)}" '
                   f'y="{_num(top + fh)}" text-anchor="middle">'
                   f"No {_text(count_name)}</text>\n")

    out.append(f'<g id="frames" data-total="{total}">\n')
    for b in shown:
        name = sanitize_frame(b.name)
        x = XPAD + b.start * scale
        w = b.count * scale
        y = frame_y(b.depth)
        tip = f"{name} ({b.count:,} {count_name}, {100 * b.count / total:.2f}%)"
        color = frame_color(b.name, palette)
        out.append(
            f'<g class="f" data-d="{b.depth}" data-s="{b.start}" '
            f'data-v="{b.count}"><title>{_text(tip)}</title>'
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" '
            f'height="{_num(fh - 1)}" fill="{color}" rx="2" ry="2"/>'
            f'<text x="{_num(x + 3)}" y="{_num(y + fh - 4.5)}">'
            f"{_text(fit_label(name, w, fs))}</text></g>\n")
    out.append("</g>\n")

    out.append('<script type="text/ecmascript"><![CDATA[\n')
    out.append(f"var FG_CONFIG = {json.dumps(config)};\n")
    out.append(_SCRIPT)
    out.append("]]></script>\n</svg>\n")
    return "".join(out)


def write_svg(samples: Iterable[Sample], out: TextIO, **options) -> None:
    out.write(render_svg(samples, **options))


# The interactive part.  It only rewrites attributes and classes of the
# elements above, so the static drawing stays the source of truth.
_SCRIPT = r"""
(function () {
  "use strict";
  var C = FG_CONFIG;
  var svg = document.documentElement;
  var details = document.getElementById("details");
  var matched = document.getElementById("matched");
  var unzoomButton = document.getElementById("unzoom");
  var searchButton = document.getElementById("search");
  var framesGroup = document.getElementById("frames");
  var frames = [];
  var byGroup = new Map();
  var zoomedTo = null;
  var searching = null;

  Array.prototype.forEach.call(framesGroup.querySelectorAll("g.f"), function (g) {
    var tip = g.querySelector("title").textContent;
    var f = {
      g: g, rect: g.querySelector("rect"), label: g.querySelector("text"),
      tip: tip, name: tip.replace(/ \([0-9,]+ [\s\S]*\)$/, ""),
      d: Number(g.getAttribute("data-d")),
      s: Number(g.getAttribute("data-s")),
      v: Number(g.getAttribute("data-v"))
    };
    frames.push(f);
    byGroup.set(g, f);
  });

  function percent(n) {
    return C.total ? (100 * n / C.total).toFixed(2) : "0.00";
  }

  function fitLabel(name, w) {
    var n = Math.floor((w - 6) / (C.fontSize * C.charWidth));
    if (n < 3) return "";
    return name.length <= n ? name : name.slice(0, n - 2) + "..";
  }

  function num(x) {
    return String(Math.round(x * 100) / 100);
  }

  function place(f, x, w) {
    f.rect.setAttribute("x", num(x));
    f.rect.setAttribute("width", num(w));
    f.label.setAttribute("x", num(x + 3));
    f.label.textContent = fitLabel(f.name, w);
  }

  function unzoom() {
    var scale = C.total ? C.plotWidth / C.total : 0;
    frames.forEach(function (f) {
      f.g.classList.remove("hide", "parent");
      place(f, C.xpad + f.s * scale, f.v * scale);
    });
    zoomedTo = null;
    unzoomButton.classList.add("hide");
  }

  function zoom(target) {
    if (target.d === 0 || !target.v) { unzoom(); return; }
    var scale = C.plotWidth / target.v;
    var end = target.s + target.v;
    frames.forEach(function (f) {
      var cls = f.g.classList;
      if (f.d < target.d && f.s <= target.s && f.s + f.v >= end) {
        cls.remove("hide");
        cls.add("parent");
        place(f, C.xpad, C.plotWidth);
      } else if (f.d >= target.d && f.s >= target.s && f.s + f.v <= end) {
        cls.remove("hide", "parent");
        place(f, C.xpad + (f.s - target.s) * scale, f.v * scale);
      } else {
        cls.add("hide");
        cls.remove("parent");
      }
    });
    zoomedTo = target;
    unzoomButton.classList.remove("hide");
  }

  function clearSearch() {
    frames.forEach(function (f) { f.g.classList.remove("match"); });
    searching = null;
    matched.textContent = " ";
    searchButton.textContent = "Search";
  }

  function search(pattern) {
    var re;
    try {
      re = new RegExp(pattern);
    } catch (e) {
      clearSearch();
      matched.textContent = "Invalid regular expression";
      return false;
    }
    var spans = [];
    frames.forEach(function (f) {
      if (f.d > 0 && re.test(f.name)) {
        f.g.classList.add("match");
        spans.push([f.s, f.s + f.v]);
      } else {
        f.g.classList.remove("match");
      }
    });
    // A match nested in another match covers no new samples.
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var covered = 0, reach = -1;
    spans.forEach(function (sp) {
      if (sp[1] <= reach) return;
      covered += sp[1] - Math.max(sp[0], reach);
      reach = sp[1];
    });
    searching = pattern;
    searchButton.textContent = "Reset Search";
    matched.textContent = "Matched: " + percent(covered) + "%";
    return true;
  }

  function askSearch() {
    if (searching !== null) { clearSearch(); return; }
    var pattern = window.prompt("Search for (regular expression):", "");
    if (pattern) search(pattern);
  }

  framesGroup.addEventListener("mouseover", function (e) {
    var g = e.target.closest("g.f");
    var f = g && byGroup.get(g);
    if (f) details.textContent = f.tip;
  });
  framesGroup.addEventListener("mouseout", function () {
    details.textContent = " ";
  });
  framesGroup.addEventListener("click", function (e) {
    var g = e.target.closest("g.f");
    var f = g && byGroup.get(g);
    if (f) zoom(f);
  });
  unzoomButton.addEventListener("click", unzoom);
  searchButton.addEventListener("click", askSearch);
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "f") {
      e.preventDefault();
      if (searching !== null) clearSearch();
      askSearch();
    } else if (e.key === "Escape") {
      clearSearch();
      unzoom();
    }
  });

  var params = new URLSearchParams(window.location.search);
  if (params.has("z")) {
    var at = params.get("z").split(",").map(Number);
    frames.forEach(function (f) {
      if (f.d === at[0] && f.s === at[1]) zoom(f);
    });
  }
  if (params.get("s")) search(params.get("s"));

  window.flamegraph = {zoom: function (d, s) {
    frames.forEach(function (f) { if (f.d === d && f.s === s) zoom(f); });
  }, unzoom: unzoom, search: search, clearSearch: clearSearch};
  svg.setAttribute("data-fg-ready", "1");
})();
"""
