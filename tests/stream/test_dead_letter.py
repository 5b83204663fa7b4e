from __future__ import annotations

import datetime as dt

import msgspec
import orjson

from cascade_rt.stream import DeadLetterRecord, DeadLetterSchema, dead_letters_for


class Order(msgspec.Struct):
    id: str
    value: float


def test_dead_letters_keep_record_error_and_source() -> None:
    (letter,) = dead_letters_for(
        [Order("a", 1.5)], ZeroDivisionError("division by zero"), "orders.transform:f"
    )
    assert letter.original_record == {"id": "a", "value": 1.5}
    assert letter.error_message == "division by zero"
    assert letter.error_type == "ZeroDivisionError"
    assert letter.source == "orders.transform:f"
    assert letter.failed_at.tzinfo is not None
    assert letter.failed_at.utcoffset() == dt.timedelta(0)


def test_unparseable_payload_is_kept_as_text() -> None:
    (letter,) = dead_letters_for([b"{not json"], "bad body", "ingest:orders")
    assert letter.original_record == "{not json"
    assert letter.error_type == "Error"


def test_schema_round_trips_through_arrow_and_json() -> None:
    schema = DeadLetterSchema()
    when = dt.datetime(2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    letters = dead_letters_for([{"id": "x", "n": [1, 2]}, "raw"], ValueError("nope"), "s", failed_at=when)
    batch = schema.decode_records(letters)
    assert batch.column("failed_at").to_pylist()[0] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    values = schema.encode_json(batch)
    assert orjson.loads(values[0])["original_record"] == {"id": "x", "n": [1, 2]}
    back = schema.to_objects(schema.decode_ndjson(b"\n".join(values)))
    assert [b.original_record for b in back] == [{"id": "x", "n": [1, 2]}, "raw"]
    assert all(isinstance(b, DeadLetterRecord) for b in back)
    assert back[0].failed_at == when


def test_a_record_nested_past_orjsons_limit_is_kept_whole() -> None:
    deep: object = {"id": "a"}
    for _ in range(600):  # orjson writes 255 levels; a refused record can hold more
        deep = [deep]
    letters = dead_letters_for([{"record": deep}], "invalid", "ingest_api:Deep")
    schema = DeadLetterSchema()
    batch = schema.decode_records(letters)
    text = batch.column("original_record")[0].as_py()
    assert text == '{"record":' + "[" * 600 + '{"id":"a"}' + "]" * 600 + "}"
    assert schema.to_objects(batch)[0].original_record == {"record": deep}
