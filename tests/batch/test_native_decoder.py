"""The native decoder agrees with the msgspec paths on every body, valid or not.

Each test decodes the same bytes with a codec that uses the extension and one that does not: the
batches must be equal, or both must raise the same errors. The extension is free to give up (the
precise path then decides) but never to accept what the precise path rejects, nor to decode a
value differently.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from typing import Any

import orjson
import pandera.pandas  # noqa: F401 - sets PYARROW_IGNORE_TIMEZONE=1: timestamps must not care
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascade_rt.batch import NO_DEFAULT, BatchCodec, Constraints, FieldNode, TypeNode, ValidationError
from cascade_rt.batch._native_decoder import NATIVE, NativeDecoder, field_spec

T = TypeNode

FIELDS = (
    FieldNode("s", T("str", constraints=Constraints(unique=True))),
    FieldNode("i", T("int", constraints=Constraints(ge=-5, lt=1000))),
    FieldNode("f", T("float", constraints=Constraints(gt=-1e6, le=1e6))),
    FieldNode("b", T("bool")),
    FieldNode("ts", T("datetime", constraints=Constraints(unique=True))),
    FieldNode("d", T("date")),
    FieldNode("j", T("json", json_object=True)),
    FieldNode("any", T("json", nullable=True), default=None),
    FieldNode("tags", T("list", nullable=True, item=T("str"), constraints=Constraints(max_length=3)), default=None),
    FieldNode("short", T("str", constraints=Constraints(min_length=1, max_length=2)), default="é"),
    FieldNode("n", T("int", nullable=True), default=None),
    FieldNode("k", T("int"), default=7),
    FieldNode("x", T("float"), default=0.5),
    FieldNode("flag", T("bool"), default=True),
)
ROOT = T("struct", name="Flat", fields=FIELDS)

needs_native = pytest.mark.skipif(not NATIVE, reason="the native extension is not built (or CASCADE_NATIVE=0)")


@pytest.fixture(scope="module")
def codecs() -> tuple[BatchCodec, BatchCodec]:
    native, plain = BatchCodec(ROOT), BatchCodec(ROOT, native=False)
    assert plain.native is None
    if NATIVE:
        assert native.native is not None
    return native, plain


def _outcome(codec: BatchCodec, body: bytes, fmt: str) -> tuple[str, Any]:
    try:
        return "ok", codec.decode(body, fmt)
    except ValidationError as exc:
        return "error", exc.errors


def _agree(codecs: tuple[BatchCodec, BatchCodec], body: bytes, fmt: str) -> tuple[str, Any]:
    native, plain = codecs
    got, want = _outcome(native, body, fmt), _outcome(plain, body, fmt)
    assert got[0] == want[0], (body, got, want)
    if got[0] == "ok":
        assert got[1].schema == want[1].schema
        assert got[1].to_pylist() == want[1].to_pylist(), body
        assert got[1].equals(want[1])
    else:
        assert got[1] == want[1], body
    return got


def _good(i: int) -> dict[str, Any]:
    return {
        "s": f"rec-{i}",
        "i": i % 900,
        "f": i * 0.5,
        "b": bool(i % 2),
        "ts": f"2024-03-{1 + i % 28:02d}T0{i % 10}:30:00.{i % 1000:03d}+05:30",
        "d": f"2023-12-{1 + i % 31:02d}",
        "j": {"n": i, "nested": [1, {"a": None}]},
    }


# -- values that must decode, and values that must not ----------------------------------------

VALID_BODIES = [
    b'{"s":"a","i":-5,"f":-999999.5,"b":false,"ts":"1969-12-31T23:59:59.999999Z","d":"1600-02-29","j":{}}',
    b'{"s":"\\u00e9\\ud83d\\ude00\\n\\"","i":999,"f":1e6,"b":true,"ts":"2000-02-29T12:00:00-23:59","d":"0001-01-01","j":{ "k" : [ ] }}',
    b'{ "j":{"z":"\xc3\xa9"} , "d":"9999-12-31","ts":"2024-01-01T00:00:00.5Z","b":true,"f":-0.0,"i":0,"s":"\xf0\x9f\x98\x80","unknown":[1,{"x":"y"}]}',
    b'{"s":"x","i":1,"f":123456.78901234567890123,"b":true,"ts":"2024-01-01T00:00:00+00:00","d":"2024-01-01","j":{},"tags":["a","",'
    b'"\\/"],"n":-9223372036854775808,"k":9223372036854775807,"x":2.2250738585072014e-308,"flag":false,"short":"ab","any":[1]}',
    b'{"s":"x","i":1,"f":0.1,"b":true,"ts":"2024-01-01T00:00:00Z","d":"2024-01-01","j":{},"tags":null,"n":null,"any":null}',
    b'{"s":"x","i":1,"f":1,"b":true,"ts":"2024-01-01T00:00:00Z","d":"2024-01-01","j":{},"x":1.7976931348623157e308}',
    b'{"s":"x","i":1,"f":1E-2,"b":true,"ts":"2024-01-01T00:00:00Z","d":"2024-01-01","j":{},"x":4.9e-324}',
    b'{"s":"x","i":1,"f":-0.0000000000000000000000000001e-300,"b":true,"ts":"2024-01-01T00:00:00Z","d":"2024-01-01","j":{},"x":1e-400}',
]

INVALID_VALUES = {
    "s": [b"1", b"null", b"true", b'"\\ud800"', b'"\\udc00x"', b'"\\x"', b'"a\tb"', b'"\xff"', b'"\xed\xa0\x80"'],
    "i": [b"-6", b"1000", b"1.0", b"1e2", b'"1"', b"true", b"9223372036854775808", b"-0.0", b"01", b"- 1", b"null"],
    "f": [b"-1e6", b"1e6000", b'"1.5"', b"1.", b".5", b"+1", b"1e", b"NaN", b"Infinity", b"null"],
    "b": [b"1", b'"true"', b"True", b"nul", b"null"],
    "ts": [
        b'"2024-01-01T00:00:00"', b'"2024-02-30T00:00:00Z"',
        b'"2024-01-01T24:00:00Z"',
        b'"2024-01-01T00:00:60Z"', b'"2023-02-29T00:00:00Z"', b'"0000-01-01T00:00:00Z"', b"1704067200", b"null",
        b'"2024-01-01T00:00:00.Z"', b'"2024-01-01T00:00:00+02"', b'"2024-01-01T00:00:00+24:00"',
    ],
    "d": [b'"2024-1-01"', b'"2024-13-01"', b'"2024-01-01T00:00:00Z"', b'"20240101"', b"null", b'"2024-04-31"'],
    "j": [b"[]", b"1", b'"{}"', b"null", b"{", b'{"a":}', b'{"a" 1}', b"{'a':1}", b'{"a":[1,]}', b'{"a":tru}'],
    "tags": [b'["a",null]', b'["a","b","c","d"]', b'"a"', b"[1]", b'["a",]', b"[,]"],
    "short": [b'""', b'"abc"', b'"\\u00e9\\u00e9\\u00e9"', b"null"],
    "k": [b"null", b"1.5"],
    "flag": [b"null", b"0"],
}


@needs_native
@pytest.mark.parametrize("body", VALID_BODIES)
@pytest.mark.parametrize("fmt", ["JSON", "JSON_ARRAY", "NDJSON"])
def test_valid_records_decode_as_the_precise_paths_decode_them(
    codecs: tuple[BatchCodec, BatchCodec], body: bytes, fmt: str
) -> None:
    if fmt == "JSON_ARRAY":
        body = b"[" + body + b"]"
    outcome = _agree(codecs, body, fmt)
    assert outcome[0] == "ok"


@needs_native
def test_valid_records_decode_on_the_native_path(codecs: tuple[BatchCodec, BatchCodec]) -> None:
    native = codecs[0].native
    assert native is not None
    body = orjson.dumps([_good(i) for i in range(50)])
    decoded = native.decode(body, "JSON_ARRAY")
    assert decoded is not None
    batch, suspects = decoded
    assert batch.num_rows == 50
    assert suspects == []
    assert batch.column("ts")[0].as_py() == dt.datetime(2024, 2, 29, 19, 0, tzinfo=dt.UTC)  # 00:30+05:30
    assert batch.column("short").to_pylist() == ["é"] * 50
    assert batch.column("k").to_pylist() == [7] * 50
    assert batch.column("tags").null_count == 50


@needs_native
@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in INVALID_VALUES.items() for v in values])
def test_each_bad_value_is_rejected_with_the_precise_paths_error(
    codecs: tuple[BatchCodec, BatchCodec], field: str, value: bytes
) -> None:
    records = [_good(i) for i in range(3)]
    records[1][field] = orjson.Fragment(value)
    outcome = _agree(codecs, orjson.dumps(records), "JSON_ARRAY")
    assert outcome[0] == "error"
    assert {e["index"] for e in outcome[1]} <= {None, 1}


@needs_native
@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b'[{"s":"a"} {"s":"b"}]', "JSON_ARRAY"),
        (b"[", "JSON_ARRAY"),
        (b"[]]", "JSON_ARRAY"),
        (b"[1]", "JSON_ARRAY"),
        (b'{"s":"a"}', "JSON_ARRAY"),
        (b"[]", "JSON"),
        (b"\xef\xbb\xbf[]", "JSON_ARRAY"),
        (b"{}", "JSON"),
        (b'{"s":"a"}{"s":"b"}', "NDJSON"),
        (b"{\n}", "NDJSON"),
    ],
)
def test_malformed_bodies_are_rejected_with_the_precise_paths_error(
    codecs: tuple[BatchCodec, BatchCodec], body: bytes, fmt: str
) -> None:
    assert _agree(codecs, body, fmt)[0] == "error"


@needs_native
@needs_native
@pytest.mark.parametrize(
    "value",
    [
        b'"2024-01-01 00:00:00Z"', b'"2024-01-01t00:00:00z"', b'"2024-01-01T00:00:00+0200"',
        b'"2024-01-01T00:00:00.1234567Z"',
    ],
)
def test_other_timestamp_spellings_are_left_to_the_precise_path(
    codecs: tuple[BatchCodec, BatchCodec], value: bytes
) -> None:
    body = orjson.dumps({**_good(1), "ts": orjson.Fragment(value)})
    assert codecs[0].native is not None
    assert codecs[0].native.decode(body, "JSON") is None
    _agree(codecs, body, "JSON")


def test_a_repeated_key_decodes_as_msgspec_decodes_it(codecs: tuple[BatchCodec, BatchCodec]) -> None:
    body = orjson.dumps(_good(1))[:-1] + b',"i":3,"s":"again"}'
    assert codecs[0].native is not None
    assert codecs[0].native.decode(body, "JSON") is None  # the extension gives up ...
    _agree(codecs, body, "JSON")  # ... and the answer is the precise path's


@needs_native
def test_an_escaped_key_decodes_as_msgspec_decodes_it(codecs: tuple[BatchCodec, BatchCodec]) -> None:
    body = orjson.dumps(_good(1)).replace(b'"s"', b'"\\u0073"')
    assert _agree(codecs, body, "JSON")[0] == "ok"


@needs_native
@pytest.mark.parametrize("field", ["s", "ts"])
def test_repeated_unique_values_are_named(codecs: tuple[BatchCodec, BatchCodec], field: str) -> None:
    records = [_good(i) for i in range(4)]
    if field == "s":
        records[3]["s"] = records[1]["s"]
    else:  # the same instant at another offset is the same value
        records[3]["ts"] = "2024-03-01T19:00:00.001-05:00"
        records[1]["ts"] = "2024-03-02T05:30:00.001+05:30"
    status, errors = _agree(codecs, orjson.dumps(records), "JSON_ARRAY")
    assert status == "error"
    assert [(e["index"], e["path"]) for e in errors] == [(3, f"$.{field}")]
    assert errors[0]["message"].startswith("Duplicate value")


# -- generated bodies ---------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_offsets = st.sampled_from(["Z", "+00:00", "-05:00", "+05:30", "+14:00", "-23:59"])
_datetimes = st.builds(
    lambda d, o: d.isoformat(timespec=("seconds", "milliseconds", "microseconds")[d.microsecond % 3]) + o,
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    _offsets,
)
_texts = st.text(st.characters(codec="utf-8"), max_size=8)

_floats = st.floats(allow_nan=False, allow_infinity=False)
_int64 = st.integers(-(2**63), 2**63 - 1)

# Values that mostly decode ...
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "s": _texts,
    "i": st.integers(-5, 999),
    "f": st.floats(-1e6, 1e6, exclude_min=True) | st.integers(-999_999, 1_000_000),
    "b": st.booleans(),
    "ts": _datetimes,
    "d": st.dates().map(dt.date.isoformat),
    "j": st.dictionaries(st.text(max_size=4), _json_values, max_size=3),
    "any": _json_values,
    "tags": st.none() | st.lists(_texts, max_size=3),
    "short": st.text(st.characters(codec="utf-8"), min_size=1, max_size=2),
    "n": st.none() | _int64,
    "k": _int64,
    "x": _floats | _int64,
    "flag": st.booleans(),
}
# ... and, one time in ten, values at and past the edges.
EDGE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "s": st.text(max_size=3),
    "i": st.integers(-10, 1010) | st.integers(),
    "f": _floats | st.integers(-(10**30), 10**30),
    "b": st.none(),
    "ts": st.datetimes().map(dt.datetime.isoformat) | _texts,
    "d": st.dates().map(lambda d: d.isoformat()[:9]),
    "j": _json_values,
    "any": st.just(None),
    "tags": st.lists(_texts, max_size=5) | st.lists(st.none() | st.integers(), max_size=2),
    "short": _texts,
    "n": st.integers(),
    "k": st.integers() | _floats,
    "x": st.integers(),
    "flag": st.integers(0, 1),
}


@st.composite
def _record(draw: st.DrawFn) -> bytes:
    """One record's JSON text: fields in any order, some missing, some of the wrong type, extras."""
    names = draw(st.permutations(list(FIELD_VALUES)))
    ascii_only = draw(st.booleans())
    dirty = draw(st.integers(0, 3)) == 0  # a quarter of the records go near and past the edges

    def dumps(value: Any) -> bytes:
        # stdlib json: big integers, and \u escapes or raw UTF-8 (lone surrogates become invalid UTF-8)
        return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")

    parts = []
    for name in names:
        roll = draw(st.integers(0, 99)) if dirty else 99
        if roll < 2:
            continue  # missing (required or not)
        if roll < 4:
            value: Any = draw(_json_values)  # probably the wrong type
        elif roll < 14:
            value = draw(EDGE_VALUES[name])
        else:
            value = draw(FIELD_VALUES[name])
        parts.append(dumps(name) + b":" + dumps(value))
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), b'"extra":' + dumps(draw(_json_values)))
    return b"{" + b",".join(parts) + b"}"


@needs_native
@settings(max_examples=int(os.environ.get("NATIVE_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record(), max_size=6), fmt=st.sampled_from(["JSON_ARRAY", "NDJSON", "JSON"]))
def test_generated_bodies_decode_as_the_precise_paths_decode_them(
    codecs: tuple[BatchCodec, BatchCodec], records: list[bytes], fmt: str
) -> None:
    if fmt == "JSON":
        body = records[0] if records else b"{}"
    elif fmt == "NDJSON":
        body = b"\n".join(records)
    else:
        body = b"[" + b",".join(records) + b"]"
    _agree(codecs, body, fmt)


# -- what the extension takes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "node",
    [
        T("str", constraints=Constraints(pattern="^a")),
        T("str", constraints=Constraints(choices=("a", "b"))),
        T("bytes"),
        T("struct", name="Inner", fields=(FieldNode("a", T("int")),)),
        T("list", item=T("int")),
        T("list", item=T("str", nullable=True)),
    ],
)
def test_fields_the_extension_cannot_take_leave_the_schema_to_msgspec(node: TypeNode) -> None:
    field = FieldNode("v", node)
    assert field_spec(field) is None
    root = T("struct", name="R", fields=(FieldNode("id", T("str")), field))
    assert BatchCodec(root).native is None


def test_a_default_the_extension_cannot_hold_leaves_the_schema_to_msgspec() -> None:
    for field in (
        FieldNode("j", T("json"), default={"a": 1}),
        FieldNode("t", T("list", item=T("str")), default=["a"]),
        FieldNode("ts", T("datetime"), default=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        FieldNode("s", T("str"), default=None),  # None for a field that cannot be null
    ):
        assert field_spec(field) is None, field
    assert field_spec(FieldNode("s", T("str"), default=NO_DEFAULT)) is not None


def test_forbidding_unknown_keys_leaves_the_schema_to_msgspec() -> None:
    assert NativeDecoder.for_struct(ROOT, BatchCodec(ROOT).arrow_schema, forbid_unknown=True) is None
    codec = BatchCodec(ROOT, forbid_unknown=True)
    with pytest.raises(ValidationError, match="unknown field"):
        codec.decode(orjson.dumps({**_good(1), "extra": 1}), "JSON")


def test_integer_bounds_round_inward() -> None:
    spec = field_spec(FieldNode("v", T("int", constraints=Constraints(ge=0.5, lt=10.0))))
    assert spec is not None
    assert (spec[7], spec[9]) == (1, 9)


@pytest.mark.skipif(os.environ.get("CASCADE_NATIVE") == "0", reason="turned off by CASCADE_NATIVE=0")
def test_the_extension_is_built_where_a_compiler_is() -> None:
    # Installs on machines with a C compiler (CI has one) build it; a silent fallback to msgspec
    # would only show as a slower benchmark, so it is checked here.
    assert NATIVE


@needs_native
def test_big_bodies_decode_in_threads_at_once(codecs: tuple[BatchCodec, BatchCodec]) -> None:
    # Bodies over 16 KiB are decoded without the GIL: threads decoding at once get whole batches.
    native = codecs[0]
    bodies = [orjson.dumps([_good(i) for i in range(k * 1000, k * 1000 + 400)]) for k in range(4)]
    assert all(len(b) > 16384 for b in bodies)
    want = [native.decode(b, "JSON_ARRAY") for b in bodies]
    got: list[pa.RecordBatch | None] = [None] * 4
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        barrier.wait()
        for _ in range(20):
            got[k] = native.decode(bodies[k], "JSON_ARRAY")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(g is not None and g.equals(w) for g, w in zip(got, want, strict=True))


@needs_native
@settings(max_examples=int(os.environ.get("NATIVE_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    fmt=st.sampled_from(["JSON_ARRAY", "NDJSON", "JSON"]),
)
def test_damaged_bodies_decode_as_the_precise_paths_decode_them(
    codecs: tuple[BatchCodec, BatchCodec], data: st.DataObject, fmt: str
) -> None:
    # A valid body with bytes overwritten, cut short or inserted: whatever it has become, both
    # paths give the same answer (and the extension reads nothing past the end).
    records = [_good(i) for i in range(data.draw(st.integers(1, 3)))]
    body = bytearray(orjson.dumps(records[0]) if fmt == "JSON" else (
        b"\n".join(orjson.dumps(r) for r in records) if fmt == "NDJSON" else orjson.dumps(records)))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body)))
        what = data.draw(st.sampled_from(["set", "cut", "insert"]))
        piece = data.draw(st.binary(min_size=1, max_size=3) | st.sampled_from([b'"', b"\\", b"{", b"]", b",", b"\n", b"\xc3"]))
        if what == "set":
            body[at:at + len(piece)] = piece
        elif what == "cut":
            del body[at:]
        else:
            body[at:at] = piece
    _agree(codecs, bytes(body), fmt)
