"""Property tests: decode → batch → to_records round-trips, whichever JSON encoder wrote the body."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from typing import Any, Literal

import msgspec
import orjson
import pandera.pandas  # noqa: F401 - round-trips must hold with PYARROW_IGNORE_TIMEZONE set
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cascade_rt.schema import RecordSchema


class Inner(msgspec.Struct):
    n: int
    at: dt.datetime | None = None


class Everything(msgspec.Struct):
    s: str
    i: int
    f: float
    b: bool
    ts: dt.datetime
    d: dt.date
    raw: bytes
    dec: decimal.Decimal
    items: list[int]
    inner: Inner
    inners: list[Inner]
    meta: dict[str, Any]
    maybe: str | None = None


SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
text = st.text(alphabet=st.characters(blacklist_categories=SURROGATES), max_size=12)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
aware = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=offsets
)
json_values = st.recursive(
    st.none() | st.booleans() | int64 | floats | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def inner_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {"n": draw(int64)}
    if draw(st.booleans()):
        record["at"] = draw(st.none() | aware)
    return record


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record = {
        "s": draw(text),
        "i": draw(int64),
        "f": draw(floats),
        "b": draw(st.booleans()),
        "ts": draw(aware),
        "d": draw(st.dates(min_value=dt.date(1, 1, 1))),
        "raw": draw(st.binary(max_size=8)),
        "dec": draw(floats),
        "items": draw(st.lists(int64, max_size=4)),
        "inner": draw(inner_records()),
        "inners": draw(st.lists(inner_records(), max_size=3)),
        "meta": draw(st.dictionaries(text, json_values, max_size=4)),
    }
    if draw(st.booleans()):
        record["maybe"] = draw(st.none() | text)
    return record


def _wire(record: dict[str, Any]) -> dict[str, Any]:
    """The record as JSON-native values (RFC 3339 text, base64, ISO dates)."""

    def inner(r: dict[str, Any]) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}

    return {
        **record,
        "ts": record["ts"].isoformat(),
        "d": record["d"].isoformat(),
        "raw": base64.b64encode(record["raw"]).decode(),
        "inner": inner(record["inner"]),
        "inners": [inner(r) for r in record["inners"]],
    }


def _expected(record: dict[str, Any]) -> dict[str, Any]:
    def utc(v: dt.datetime | None) -> dt.datetime | None:
        return None if v is None else v.astimezone(dt.UTC)

    def inner(r: dict[str, Any]) -> dict[str, Any]:
        return {"n": r["n"], "at": utc(r.get("at"))}

    return {
        **record,
        "ts": utc(record["ts"]),
        "f": float(record["f"]),
        "dec": float(record["dec"]),
        "inner": inner(record["inner"]),
        "inners": [inner(r) for r in record["inners"]],
        "maybe": record.get("maybe"),
    }


def _normalise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Compare datetimes by instant: the batch gives ZoneInfo("UTC"), the expectation timezone.utc.
    normalised: list[dict[str, Any]] = json.loads(
        json.dumps(records, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else repr(v))
    )
    return normalised


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=40))
def test_decode_to_records_round_trips(batch_records: list[dict[str, Any]]) -> None:
    schema = RecordSchema.of(Everything)
    body = orjson.dumps([_wire(r) for r in batch_records])
    got = schema.to_records(schema.decode(body))
    assert _normalise(got) == _normalise([_expected(r) for r in batch_records])


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=40))
def test_orjson_and_stdlib_json_bodies_decode_identically(batch_records: list[dict[str, Any]]) -> None:
    schema = RecordSchema.of(Everything)
    wire = [_wire(r) for r in batch_records]
    from_orjson = schema.to_records(schema.decode(orjson.dumps(wire)))
    from_json = schema.to_records(schema.decode(json.dumps(wire).encode()))
    assert from_orjson == from_json
    ndjson = "\n".join(json.dumps(r, indent=None) for r in wire).encode()
    assert schema.to_records(schema.decode(ndjson, "NDJSON")) == from_json


@SETTINGS
@given(st.lists(records(), min_size=1, max_size=20))
def test_encode_json_then_ndjson_decode_round_trips(batch_records: list[dict[str, Any]]) -> None:
    schema = RecordSchema.of(Everything)
    batch = schema.decode(orjson.dumps([_wire(r) for r in batch_records]))
    again = schema.decode(b"\n".join(schema.encode_json(batch)), "NDJSON")
    assert schema.to_records(again) == schema.to_records(batch)
