"""pprof output, read back with a minimal protobuf decoder written here."""

import gzip
import io

import pytest

from bpfscope.output.pprof import (encode_profile, encode_varint, field_packed,
                                   to_pprof, write_pprof)


# ------------------------------------------------------------ the decoder

def read_varint(buf, pos):
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def fields(buf):
    """[(field number, wire type, value)]; value is an int or bytes."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wt = key >> 3, key & 7
        if wt == 0:
            value, pos = read_varint(buf, pos)
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            value = bytes(buf[pos:pos + n])
            assert len(value) == n, "truncated field"
            pos += n
        else:
            raise AssertionError(f"unexpected wire type {wt}")
        out.append((number, wt, value))
    assert pos == len(buf)
    return out


def packed(data):
    vals, pos = [], 0
    while pos < len(data):
        v, pos = read_varint(data, pos)
        vals.append(v)
    return vals


def signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


# Per message: field number -> (name, kind); kind is "int", "ints"
# (repeated, packed or not), "str" (repeated string) or a message schema.
VALUE_TYPE = {1: ("type", "int"), 2: ("unit", "int")}
SAMPLE = {1: ("location_id", "ints"), 2: ("value", "ints")}
LINE = {1: ("function_id", "int"), 2: ("line", "int")}
LOCATION = {1: ("id", "int"), 2: ("mapping_id", "int"), 3: ("address", "int"),
            4: ("line", [LINE])}
FUNCTION = {1: ("id", "int"), 2: ("name", "int"), 3: ("system_name", "int"),
            4: ("filename", "int"), 5: ("start_line", "int")}
PROFILE = {1: ("sample_type", [VALUE_TYPE]), 2: ("sample", [SAMPLE]),
           3: ("mapping", [{}]), 4: ("location", [LOCATION]),
           5: ("function", [FUNCTION]), 6: ("string_table", "str"),
           9: ("time_nanos", "int"), 10: ("duration_nanos", "int"),
           11: ("period_type", VALUE_TYPE), 12: ("period", "int"),
           13: ("comment", "ints"), 14: ("default_sample_type", "int")}


def decode(buf, schema):
    msg = {}
    for number, wt, value in fields(buf):
        assert number in schema, f"unknown field {number}"
        name, kind = schema[number]
        if kind == "int":
            assert wt == 0 and name not in msg
            msg[name] = signed(value)
        elif kind == "ints":
            vals = packed(value) if wt == 2 else [value]
            msg.setdefault(name, []).extend(signed(v) for v in vals)
        elif kind == "str":
            assert wt == 2
            msg.setdefault(name, []).append(value.decode("utf-8"))
        elif isinstance(kind, list):
            assert wt == 2
            msg.setdefault(name, []).append(decode(value, kind[0]))
        else:
            assert wt == 2 and name not in msg
            msg[name] = decode(value, kind)
    return msg


def load(data):
    return decode(gzip.decompress(data), PROFILE)


# ------------------------------------------------------------ the tests

def test_varints():
    assert encode_varint(0) == b"\x00"
    assert encode_varint(1) == b"\x01"
    assert encode_varint(127) == b"\x7f"
    assert encode_varint(128) == b"\x80\x01"
    assert encode_varint(300) == b"\xac\x02"
    assert encode_varint(-1) == b"\xff" * 9 + b"\x01"
    assert read_varint(encode_varint(2**64 - 1), 0) == (2**64 - 1, 10)
    assert field_packed(1, [1, 300]) == b"\x0a\x03\x01\xac\x02"
    assert field_packed(1, []) == b""


def test_profile_structure_exact():
    samples = [(["main", "a", "leaf"], 3), (["main", "b"], 2),
               (["main", "a", "leaf"], 4)]
    p = load(to_pprof(samples))
    st = p["string_table"]
    assert st == ["", "samples", "count", "main", "a", "leaf", "b"]
    assert p["sample_type"] == [{"type": 1, "unit": 2}]
    # Functions and locations: one per distinct name, ids from 1.
    assert p["function"] == [
        {"id": i, "name": s, "system_name": s}
        for i, s in ((1, 3), (2, 4), (3, 5), (4, 6))]
    assert p["location"] == [{"id": i, "line": [{"function_id": i}]}
                             for i in (1, 2, 3, 4)]
    # Samples merged, sorted by stack, leaf first.
    assert p["sample"] == [{"location_id": [3, 2, 1], "value": [7]},
                           {"location_id": [4, 1], "value": [2]}]
    assert "period_type" not in p and "period" not in p
    assert "mapping" not in p


def test_names_through_tables():
    samples = [(["[unknown]", "ünïcode::fn<T>", ""], 1)]
    p = load(to_pprof(samples))
    st = p["string_table"]
    funcs = {f["id"]: st[f.get("name", 0)] for f in p["function"]}
    locs = {l["id"]: funcs[l["line"][0]["function_id"]] for l in p["location"]}
    stack = [locs[i] for i in p["sample"][0]["location_id"]]
    assert stack == ["", "ünïcode::fn<T>", "[unknown]"]


def test_period_time_and_comments():
    raw = encode_profile([(["x"], 5)], sample_type=("cpu", "nanoseconds"),
                         period_type=("cpu", "nanoseconds"), period=10_101_010,
                         time_nanos=1_700_000_000_000_000_000,
                         duration_nanos=5_000_000_000,
                         comments=["bpfscope profile:hz:99"])
    p = decode(raw, PROFILE)
    st = p["string_table"]
    assert [st[p["sample_type"][0]["type"]], st[p["sample_type"][0]["unit"]]] == \
        ["cpu", "nanoseconds"]
    assert p["period_type"] == p["sample_type"][0]
    assert p["period"] == 10_101_010
    assert p["time_nanos"] == 1_700_000_000_000_000_000
    assert p["duration_nanos"] == 5_000_000_000
    assert [st[c] for c in p["comment"]] == ["bpfscope profile:hz:99"]
    assert st.count("cpu") == 1 and st[0] == ""


def test_large_counts_and_empty_profile():
    p = load(to_pprof([(["a"], 2**40)]))
    assert p["sample"][0]["value"] == [2**40]
    empty = load(to_pprof([]))
    assert empty == {"sample_type": [{"type": 1, "unit": 2}],
                     "string_table": ["", "samples", "count"]}


def test_write_and_reproducible(tmp_path):
    samples = [(["a", "b"], 1)]
    buf = io.BytesIO()
    write_pprof(samples, buf)
    path = tmp_path / "p.pb.gz"
    write_pprof(samples, str(path))
    assert buf.getvalue() == path.read_bytes() == to_pprof(samples)
    assert buf.getvalue()[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("n", [0, 1, -1, -(2**63), 2**63 - 1])
def test_int64_round_trip(n):
    raw = encode_profile([], time_nanos=n)
    assert decode(raw, PROFILE).get("time_nanos", 0) == n


def test_frames_with_source_lines_fill_function_and_line_tables():
    from bpfscope.output.pprof import frame_parts
    assert frame_parts("main@/src/p.c:40") == ("main", False, "/src/p.c", 40)
    assert frame_parts("[inlined] myclock@p.c:12") == ("myclock", True, "p.c", 12)
    assert frame_parts("leaf") == ("leaf", False, "", 0)
    assert frame_parts("a@b") == ("a@b", False, "", 0)
    # root first: main, with outer and myclock inlined into it, calls mid
    samples = [(["main@p.c:40", "[inlined] outer@p.c:28",
                 "[inlined] myclock@p.c:22", "mid@p.c:15", "leaf@p.c:10"], 5),
               (["main@p.c:41", "leaf@p.c:10"], 1)]
    p = load(to_pprof(samples))
    st = p["string_table"]
    funcs = {f["id"]: (st[f["name"]], st[f.get("filename", 0)]) for f in p["function"]}
    assert sorted(funcs.values()) == [("leaf", "p.c"), ("main", "p.c"), ("mid", "p.c"),
                                      ("myclock", "p.c"), ("outer", "p.c")]
    locs = {l["id"]: [(funcs[ln["function_id"]][0], ln["line"]) for ln in l["line"]]
            for l in p["location"]}
    stacks = {tuple(tuple(locs[i]) for i in s["location_id"]): s["value"][0]
              for s in p["sample"]}
    deep = ((("leaf", 10),), (("mid", 15),),
            (("myclock", 22), ("outer", 28), ("main", 40)))
    assert stacks == {deep: 5, ((("leaf", 10),), (("main", 41),)): 1}
    # main is one function in two locations: the inlined chain, line 41
    assert len(p["function"]) == 5 and len(p["location"]) == 4


def test_an_inlined_frame_at_the_root_has_a_location_of_its_own():
    p = load(to_pprof([(["[inlined] f@a.c:1", "g@a.c:2"], 1)]))
    assert len(p["location"]) == 2
