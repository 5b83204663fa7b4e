"""BatchCodec: formats, the error format of each kind of bad input, timestamps under pandera's env."""

from __future__ import annotations

import datetime as dt

import pandera.pandas  # noqa: F401 - sets PYARROW_IGNORE_TIMEZONE=1, the trap these tests guard against
import pyarrow as pa
import pytest

from cascade_rt.batch import NO_DEFAULT, BatchCodec, Constraints, FieldNode, TypeNode, ValidationError

T = TypeNode


def _codec(**kwargs: object) -> BatchCodec:
    root = T(
        "struct",
        name="Reading",
        fields=(
            FieldNode("id", T("str")),
            FieldNode("ts", T("datetime")),
            FieldNode("value", T("float", constraints=Constraints(ge=0))),
            FieldNode("tags", T("list", nullable=True, item=T("str")), default=None),
            FieldNode("meta", T("json", json_object=True), default={}),
        ),
    )
    return BatchCodec(root, **kwargs)  # type: ignore[arg-type]


GOOD = b'{"id":"a","ts":"2024-01-01T02:00:00+02:00","value":1}'


def test_json_array_decodes_to_a_batch_with_the_arrow_schema() -> None:
    codec = _codec()
    batch = codec.decode(b"[" + GOOD + b"," + GOOD + b"]", "JSON_ARRAY")
    assert batch.num_rows == 2
    assert batch.schema == codec.arrow_schema
    assert batch.column("meta").to_pylist() == ["{}", "{}"]


def test_json_decodes_one_object() -> None:
    assert _codec().decode(GOOD, "JSON").num_rows == 1


def test_ndjson_skips_blank_lines() -> None:
    batch = _codec().decode(GOOD + b"\n\n  \n" + GOOD + b"\n", "NDJSON")
    assert batch.num_rows == 2


def test_auto_accepts_an_object_or_an_array() -> None:
    codec = _codec()
    assert codec.decode(b"  " + GOOD, "AUTO").num_rows == 1
    assert codec.decode(b"[" + GOOD + b"]", "AUTO").num_rows == 1
    with pytest.raises(ValidationError, match="Expected a JSON object or array") as info:
        codec.decode(b"42", "AUTO")
    assert info.value.errors == [{"index": None, "path": "$", "message": "Expected a JSON object or array"}]


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown format 'XML'"):
        _codec().decode(GOOD, "XML")


def test_non_utc_offsets_convert_to_utc_with_pandera_imported() -> None:
    batch = _codec().decode(
        b'[{"id":"a","ts":"2024-01-01T02:00:00+02:00","value":1},'
        b'{"id":"b","ts":"2023-12-31T19:30:00-04:30","value":1},'
        b'{"id":"c","ts":"2024-01-01T00:00:00.250Z","value":1}]'
    )
    assert batch.column("ts").type == pa.timestamp("us", tz="UTC")
    micros = batch.column("ts").cast(pa.int64()).to_pylist()
    epoch = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1_000_000
    assert micros == [epoch, epoch, epoch + 250_000]


def test_naive_timestamp_is_rejected() -> None:
    body = b'[{"id":"a","ts":"2024-01-01T02:00:00","value":1}]'
    with pytest.raises(ValidationError, match="timezone") as info:
        _codec().decode(body)
    assert info.value.errors == [
        {"index": 0, "path": "$.ts", "message": "Expected `datetime` with a timezone component"}
    ]


def test_invalid_timestamp_text_is_rejected() -> None:
    with pytest.raises(ValidationError, match="RFC3339") as info:
        _codec().decode(b'[{"id":"a","ts":"yesterday","value":1}]')
    assert info.value.errors[0]["path"] == "$.ts"


def test_each_bad_record_reports_its_first_problem() -> None:
    body = (
        b'[{"id":"a","ts":"2024-01-01T00:00:00Z","value":1},'
        b'{"id":"b","ts":"2024-01-01T00:00:00Z","value":"x"},'
        b'{"id":"c","ts":"2024-01-01T00:00:00Z"},'
        b'{"id":"d","ts":"2024-01-01T00:00:00Z","value":-1},'
        b'{"id":5,"ts":"2024-01-01T00:00:00Z","value":"x"},'
        b'{"id":"f","ts":"2024-01-01T00:00:00Z","value":1,"meta":[1]},'
        b"7]"
    )
    with pytest.raises(ValidationError) as info:
        _codec().decode(body)
    assert info.value.errors == [
        {"index": 1, "path": "$.value", "message": "Expected `float`, got `str`"},
        {"index": 2, "path": "$", "message": "Object missing required field `value`"},
        {"index": 3, "path": "$.value", "message": "Expected `float` >= 0.0"},
        {"index": 4, "path": "$.id", "message": "Expected `str`, got `int`"},
        {"index": 5, "path": "$.meta", "message": "Expected `object`, got `array`"},
        {"index": 6, "path": "$", "message": "Expected `object`, got `int`"},
    ]
    assert str(info.value).startswith("invalid Reading input: record 1 at `$.value`: Expected `float`, got `str`")


def test_malformed_json_is_a_body_error() -> None:
    with pytest.raises(ValidationError, match="malformed") as info:
        _codec().decode(b"[" + GOOD)
    assert info.value.errors == [
        {"index": None, "path": "$", "message": "JSON is malformed: the body ends inside a value"}
    ]


@pytest.mark.parametrize(
    ("body", "format", "message"),
    [
        (GOOD, "JSON_ARRAY", "Expected `array`, got `object`"),
        (b"[" + GOOD + b"]", "JSON", "Expected `object`, got `array`"),
    ],
)
def test_wrong_shape_for_the_format_is_a_body_error(body: bytes, format: str, message: str) -> None:
    with pytest.raises(ValidationError, match="got") as info:
        _codec().decode(body, format)
    assert info.value.errors == [{"index": None, "path": "$", "message": message}]


def test_ndjson_index_counts_records_not_lines() -> None:
    bad = b'{"id":"x","ts":"2024-01-01T00:00:00Z","value":true}'
    with pytest.raises(ValidationError, match="Expected `float`, got `bool`") as info:
        _codec().decode(GOOD + b"\n\n" + GOOD + b"\n\n\n" + bad + b"\n{oops\n", "NDJSON")
    assert info.value.errors[0] == {"index": 2, "path": "$.value", "message": "Expected `float`, got `bool`"}
    assert info.value.errors[1]["index"] == 3
    assert info.value.errors[1]["message"].startswith("JSON is malformed")


def test_ndjson_line_with_two_values_is_an_error() -> None:
    with pytest.raises(ValidationError, match="trailing characters") as info:
        _codec().decode(GOOD + b"," + GOOD + b"\n" + GOOD, "NDJSON")
    assert info.value.errors[0]["index"] == 0


def test_errors_stop_at_one_hundred() -> None:
    body = b"[" + b",".join([b'{"id":1}'] * 150) + b"]"
    with pytest.raises(ValidationError, match="and 99 more bad records") as info:
        _codec().decode(body)
    assert len(info.value.errors) == 100


def test_unknown_fields_are_ignored_or_forbidden() -> None:
    body = b'[{"id":"a","ts":"2024-01-01T00:00:00Z","value":1,"extra":1}]'
    assert _codec().decode(body).num_rows == 1
    with pytest.raises(ValidationError, match="unknown field `extra`"):
        _codec(forbid_unknown=True).decode(body)


def test_strict_types_reject_numeric_strings() -> None:
    with pytest.raises(ValidationError, match="Expected `float`, got `str`"):
        _codec().decode(b'[{"id":"a","ts":"2024-01-01T00:00:00Z","value":"5"}]')


def test_decode_records_accepts_dicts_with_aware_datetimes() -> None:
    ts = dt.datetime(2024, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    batch = _codec().decode_records([{"id": "a", "ts": ts, "value": 1.5, "meta": {"k": [1]}}])
    assert batch.column("ts").to_pylist()[0] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert _codec().to_records(batch)[0]["meta"] == {"k": [1]}


def test_decode_records_rejects_naive_datetimes() -> None:
    with pytest.raises(ValidationError, match="timezone") as info:
        _codec().decode_records([{"id": "a", "ts": dt.datetime(2024, 1, 1), "value": 1.0}])
    assert info.value.errors[0]["index"] == 0


def test_decode_records_reports_unencodable_values() -> None:
    with pytest.raises(ValidationError, match="cannot encode records as JSON"):
        _codec().decode_records([{"id": "a", "ts": object()}])


def test_empty_array_gives_an_empty_batch() -> None:
    batch = _codec().decode(b"[]")
    assert batch.num_rows == 0
    assert batch.schema == _codec().arrow_schema


def test_default_fields_are_filled() -> None:
    batch = _codec().decode(GOOD, "JSON")
    assert batch.column("tags").to_pylist() == [None]
    assert batch.column("meta").to_pylist() == ["{}"]


def test_a_record_type_must_be_a_struct() -> None:
    with pytest.raises(TypeError, match="must be a struct, got str"):
        BatchCodec(T("str"))
    assert NO_DEFAULT is not None


def test_integers_beyond_int64_are_rejected() -> None:
    root = T("struct", name="Count", fields=(FieldNode("n", T("int")),))
    with pytest.raises(ValidationError, match="Integer out of range for int64") as info:
        BatchCodec(root).decode(b'[{"n": 1}, {"n": 18446744073709551615}]')
    assert info.value.errors == [{"index": 1, "path": "$", "message": "Integer out of range for int64"}]


@pytest.mark.parametrize("count", [1, 40])  # one value, and a column built in bulk
def test_invalid_utf8_inside_free_form_json_names_the_record(count: int) -> None:
    codec = _codec()
    good = b'{"id":"a","ts":"2024-01-01T02:00:00+02:00","value":1,"meta":{"k":"v"}}'
    bad = b'{"id":"b","ts":"2024-01-01T02:00:00+02:00","value":1,"meta":{"k\x80":"v"}}'
    body = b"[" + b",".join([good] * (count - 1) + [bad]) + b"]"
    with pytest.raises(ValidationError) as info:
        codec.decode(body, "JSON_ARRAY")
    assert info.value.errors == [
        {"index": count - 1, "path": "$", "message": "JSON is malformed: invalid UTF-8"}
    ]
