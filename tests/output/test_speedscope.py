"""speedscope JSON: the fields its schema requires, shared frames, order."""

import io
import json

import pytest

from bpfscope.output.speedscope import (SCHEMA, format_speedscope,
                                        to_speedscope, write_speedscope)

# Required properties, from speedscope's file-format-spec (File, Frame,
# SampledProfile); checked by hand since the schema is not shipped here.
FILE_REQUIRED = {"$schema", "shared", "profiles"}
SAMPLED_REQUIRED = {"type", "name", "unit", "startValue", "endValue",
                    "samples", "weights"}


def check_valid(doc):
    assert FILE_REQUIRED <= doc.keys()
    assert doc["$schema"] == SCHEMA
    frames = doc["shared"]["frames"]
    assert isinstance(frames, list)
    for f in frames:
        assert isinstance(f["name"], str)
        assert set(f) <= {"name", "file", "line", "col"}
    assert isinstance(doc["profiles"], list) and doc["profiles"]
    for p in doc["profiles"]:
        assert SAMPLED_REQUIRED <= p.keys()
        assert p["type"] == "sampled"
        assert p["unit"] in ("none", "nanoseconds", "microseconds",
                             "milliseconds", "seconds", "bytes")
        assert len(p["samples"]) == len(p["weights"])
        assert p["endValue"] >= p["startValue"]
        for s in p["samples"]:
            assert all(isinstance(i, int) and 0 <= i < len(frames) for i in s)
        assert all(isinstance(w, (int, float)) and w >= 0 for w in p["weights"])
    if "activeProfileIndex" in doc:
        assert 0 <= doc["activeProfileIndex"] < len(doc["profiles"])


def test_document_exact():
    samples = [(["main", "a", "leaf"], 3), (["main", "b"], 2),
               (["main", "a", "leaf"], 1)]
    doc = json.loads(format_speedscope(samples, name="cpu"))
    check_valid(doc)
    assert doc["shared"]["frames"] == [{"name": n} for n in
                                       ("main", "a", "leaf", "b")]
    assert doc["profiles"] == [{
        "type": "sampled", "name": "cpu", "unit": "none",
        "startValue": 0, "endValue": 6,
        "samples": [[0, 1, 2], [0, 3]], "weights": [4, 2]}]
    assert doc["name"] == "cpu" and doc["exporter"] == "bpfscope"


def test_frames_shared_once_and_root_first():
    samples = [(["x", "y", "x"], 1), (["y"], 1)]
    doc = to_speedscope(samples)
    names = [f["name"] for f in doc["shared"]["frames"]]
    assert names == ["x", "y"]
    stacks = [[names[i] for i in s] for s in doc["profiles"][0]["samples"]]
    assert stacks == [["x", "y", "x"], ["y"]]


def test_units_and_empty():
    doc = to_speedscope([], unit="nanoseconds")
    check_valid(doc)
    assert doc["profiles"][0]["unit"] == "nanoseconds"
    assert doc["profiles"][0]["endValue"] == 0
    with pytest.raises(ValueError):
        to_speedscope([], unit="furlongs")


def test_unicode_and_write():
    buf = io.StringIO()
    write_speedscope([(["ünï\"quote", "a;b\nc"], 2)], buf)
    doc = json.loads(buf.getvalue())
    check_valid(doc)
    # Names are JSON strings: no escaping beyond JSON's own is needed.
    assert [f["name"] for f in doc["shared"]["frames"]] == ["ünï\"quote", "a;b\nc"]
