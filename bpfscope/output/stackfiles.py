"""Writing the stack maps of a trace as profiles when it ends.

``--flamegraph FILE``, ``--folded FILE``, ``--speedscope FILE`` and
``--pprof FILE`` wrap the normal output sink: the maps are printed as
usual, and every map whose keys hold stacks is also written in the asked
formats. Frames lose their ``+offset`` so that samples of one function
merge (``main+33@prog.c:40`` becomes ``main@prog.c:40``: with debug info a
frame keeps its source line, so one function's samples merge by line). With several stack maps, each file name gets the map's name before
its extension (``out.svg`` -> ``out.offcpu.svg``).
"""

from __future__ import annotations

import errno
import os
import re

from ..runtime.values import MapData
from .flamegraph import write_svg
from .folded import samples_from_map, write_folded
from .pprof import write_pprof
from .speedscope import write_speedscope

FORMATS = ("flamegraph", "folded", "speedscope", "pprof")
_OFFSET = re.compile(r"\+\d+(?=@[^@]+:\d+$|$)")


def _has_stack(data: MapData) -> bool:
    return any(getattr(part, "frames", None) is not None
               for key, _ in data.entries[:1] for part in key)


def profile_samples(data: MapData):
    return [([_OFFSET.sub("", f) for f in frames], n)
            for frames, n in samples_from_map(data)]


def _path_for(path: str, data: MapData, several: bool) -> str:
    if not several:
        return path
    root, ext = os.path.splitext(path)
    return f"{root}.{data.name.lstrip('@') or 'map'}{ext}"


def check_writable(path: str) -> None:
    """Raise the OSError that writing ``path`` at exit would raise, now,
    before anything is attached, without creating or truncating it (with
    several stack maps the names written differ from ``path``)."""
    def fail(code: int):
        raise OSError(code, os.strerror(code), path)
    if os.path.lexists(path):
        if os.path.isdir(path):
            fail(errno.EISDIR)
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # EACCES, EROFS...
        return
    folder = os.path.dirname(path) or "."
    if not os.path.exists(folder):
        fail(errno.ENOENT)
    if not os.path.isdir(folder):
        fail(errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES)


def write_profiles(maps: list[MapData], files: dict[str, str]) -> list[str]:
    """Write each stack map in each format of ``files`` (format -> path);
    returns the paths written."""
    stack_maps = [m for m in maps if m.entries and _has_stack(m)]
    written = []
    for data in stack_maps:
        samples = profile_samples(data)
        for fmt, path in files.items():
            out = _path_for(path, data, len(stack_maps) > 1)
            if fmt == "pprof":
                write_pprof(samples, out)
            else:
                with open(out, "w") as f:
                    if fmt == "flamegraph":
                        write_svg(samples, f, title=f"{data.name} (bpfscope)")
                    elif fmt == "folded":
                        write_folded(samples, f)
                    else:
                        write_speedscope(samples, f, name=data.name)
            written.append(out)
    return written


class ProfileFiles:
    """A sink wrapper: prints as ``inner`` does, then writes the profiles."""

    def __init__(self, inner, files: dict[str, str]):
        self.inner = inner
        self.files = files

    def maps_at_exit(self, maps: list[MapData]) -> None:
        self.inner.maps_at_exit(maps)
        try:
            for path in write_profiles(maps, self.files):
                self.inner.err.write(f"Wrote {path}\n")
        except OSError as e:  # checked at start, but the disk may fill up
            self.inner.err.write(f'ERROR: Failed to write output file: "{e.filename}": '
                                 f'{e.strerror}\n')

    def __getattr__(self, name):
        return getattr(self.inner, name)
