"""Column building: small batches and large ones take different routes to the same columns."""

from __future__ import annotations

import datetime as dt
import json

import pandera.pandas  # noqa: F401 - sets PYARROW_IGNORE_TIMEZONE=1
import pyarrow as pa
import pytest

from cascade_rt.batch import BatchCodec, FieldNode, TypeNode, ValidationError

T = TypeNode

ROOT = T(
    "struct",
    name="Doc",
    fields=(
        FieldNode("at", T("datetime")),
        FieldNode("maybe_at", T("datetime", nullable=True), default=None),
        FieldNode("obj", T("json", json_object=True, nullable=True), default=None),
        FieldNode("any", T("json", nullable=True), default=None),
        FieldNode(
            "parts",
            T("list", nullable=True, item=T("struct", name="Part", nullable=True, fields=(FieldNode("w", T("json", nullable=True)),))),
            default=None,
        ),
        FieldNode("stamps", T("list", item=T("datetime")), default=[]),
    ),
)
OFFSETS = ["Z", "+02:00", "-05:30", "+14:00"]


def _records(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        record: dict[str, object] = {"at": f"2024-01-01T12:00:00{OFFSETS[i % 4]}"}
        if i % 3 == 0:
            record.update(
                maybe_at=None, obj=None, any=None, parts=[{"w": None}, None], stamps=["2024-01-01T00:00:00+01:00"]
            )
        elif i % 3 == 1:
            record.update(obj={"i": i, "s": "ü"}, any=[i, "x"], parts=[{"w": {"k": i}}])
        out.append(record)
    return out


def _expected_at(i: int) -> dt.datetime:
    offset = {"Z": 0, "+02:00": 120, "-05:30": -330, "+14:00": 840}[OFFSETS[i % 4]]
    return dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC) - dt.timedelta(minutes=offset)


@pytest.mark.parametrize("n", [1, 5, 31, 32, 100])
def test_small_and_large_batches_build_the_same_columns(n: int) -> None:
    codec = BatchCodec(ROOT)
    records = _records(n)
    batch = codec.decode(json.dumps(records).encode())
    assert batch.schema == codec.arrow_schema
    got = codec.to_records(batch)
    for i, (record, row) in enumerate(zip(records, got, strict=True)):
        assert row["at"] == _expected_at(i)
        assert row["maybe_at"] is None
        assert row["obj"] == record.get("obj")
        assert row["any"] == record.get("any")
        assert row["parts"] == record.get("parts")
    if n > 3:
        assert got[3]["stamps"] == [dt.datetime(2023, 12, 31, 23, tzinfo=dt.UTC)]


@pytest.mark.parametrize("n", [5, 100])
def test_json_object_field_rejects_other_json(n: int) -> None:
    records = _records(n)
    records[-1]["obj"] = [1, 2]
    with pytest.raises(ValidationError, match=r"Expected `object \| null`, got `array`") as info:
        BatchCodec(ROOT).decode(json.dumps(records).encode())
    assert info.value.errors == [{"index": n - 1, "path": "$.obj", "message": "Expected `object | null`, got `array`"}]


@pytest.mark.parametrize("n", [5, 100])
def test_naive_timestamps_are_rejected_in_any_batch_size(n: int) -> None:
    records = _records(n)
    records[2]["at"] = "2024-01-01T12:00:00"
    with pytest.raises(ValidationError, match="timezone component") as info:
        BatchCodec(ROOT).decode(json.dumps(records).encode())
    assert info.value.errors == [
        {"index": 2, "path": "$.at", "message": "Expected `datetime` with a timezone component"}
    ]


@pytest.mark.parametrize("n", [5, 100])
def test_null_for_a_required_json_object_is_rejected(n: int) -> None:
    root = T("struct", name="Meta", fields=(FieldNode("m", T("json", json_object=True)),))
    records: list[dict[str, object]] = [{"m": {"i": i}} for i in range(n)]
    records[1]["m"] = None
    with pytest.raises(ValidationError, match="Expected `object`, got `null`") as info:
        BatchCodec(root).decode(json.dumps(records).encode())
    assert info.value.errors[0]["index"] == 1


def test_json_text_parses_back_to_the_same_value() -> None:
    root = T("struct", name="Meta", fields=(FieldNode("m", T("json", json_object=True)),))
    body = b'[{"m": {"a" : [1, 2.5, null, "\\u00fc"], "b": {}}}]'
    batch = BatchCodec(root).decode(body)
    assert batch.column("m").type == pa.string()
    assert json.loads(batch.column("m")[0].as_py()) == {"a": [1, 2.5, None, "ü"], "b": {}}


FLAT = T(
    "struct",
    name="Flat",
    fields=(
        FieldNode("s", T("str")),
        FieldNode("maybe_s", T("str", nullable=True), default=None),
        FieldNode("i", T("int")),
        FieldNode("maybe_i", T("int", nullable=True), default=None),
        FieldNode("f", T("float")),
        FieldNode("j", T("json", nullable=True), default=None),
    ),
)
# Strings the joined-buffer route must carry through unchanged: empty, non-ASCII, escapes,
# and an embedded NUL (the separator, which sends the column to Arrow's own converter).
TEXTS = ["", "ü€😀", 'quote " backslash \\ newline \n', "a\x00b", "plain"]


def _flat(n: int, nul: bool) -> list[dict[str, object]]:
    texts = TEXTS if nul else [t for t in TEXTS if "\x00" not in t]
    return [
        {
            "s": texts[i % len(texts)] + str(i),
            "maybe_s": None if i % 3 == 0 else texts[i % len(texts)],
            "i": -(2**63) if i == 0 else 2**63 - 1 if i == 1 else i,
            "maybe_i": None if i % 2 else i,
            "f": i if i % 2 else i + 0.5,  # a JSON integer is a valid float
            "j": {"t": texts[i % len(texts)]} if i % 4 else None,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("nul", [False, True])
@pytest.mark.parametrize("n", [1, 31, 32, 100])
def test_flat_columns_round_trip_in_any_batch_size(n: int, nul: bool) -> None:
    codec = BatchCodec(FLAT)
    records = _flat(n, nul)
    batch = codec.decode(json.dumps(records).encode())
    assert batch.schema == codec.arrow_schema
    rows = codec.to_records(batch)
    for record, row in zip(records, rows, strict=True):
        assert row["s"] == record["s"]
        assert row["maybe_s"] == record["maybe_s"]
        assert row["i"] == record["i"]
        assert row["maybe_i"] == record["maybe_i"]
        assert row["f"] == float(record["f"])  # type: ignore[arg-type]
        assert isinstance(row["f"], float)
        assert row["j"] == record["j"]


@pytest.mark.parametrize("n", [5, 100])
def test_an_integer_beyond_int64_names_its_record(n: int) -> None:
    records = _flat(n, nul=False)
    records[3]["i"] = 2**63
    with pytest.raises(ValidationError, match="Integer out of range for int64") as info:
        BatchCodec(FLAT).decode(json.dumps(records).encode())
    assert info.value.errors == [{"index": 3, "path": "$", "message": "Integer out of range for int64"}]
