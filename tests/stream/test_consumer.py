"""Decoding Kafka message values back into batches (no broker needed)."""

from __future__ import annotations

import msgspec

from cascade_rt.schema import Key, RecordSchema
from cascade_rt.stream import DeadLetterSchema, dead_letters_for
from cascade_rt.stream._consumer import decode_values


class Reading(msgspec.Struct):
    sensor: Key[str]
    seq: int


READINGS = RecordSchema.of(Reading)


def test_values_decode_into_one_batch_in_order() -> None:
    batch, rejected = decode_values(READINGS, [b'{"sensor":"a","seq":1}', b'{"sensor":"b","seq":2}'])
    assert rejected == []
    assert batch is not None
    assert batch.to_pylist() == [{"sensor": "a", "seq": 1}, {"sensor": "b", "seq": 2}]


def test_invalid_values_are_set_aside_with_their_error() -> None:
    values = [
        b'{"sensor":"a","seq":1}',
        b'{"sensor":"b","seq":"two"}',
        b"{not json",
        b'{"sensor":"c","seq":3}',
    ]
    batch, rejected = decode_values(READINGS, values)
    assert batch is not None
    assert batch.column("seq").to_pylist() == [1, 3]
    assert [raw for raw, _, _ in rejected] == [values[1], values[2]]
    assert [kind for _, _, kind in rejected] == ["ValidationError", "ValidationError"]
    assert rejected[0][1] == "Expected `int`, got `str` - at `$.seq`"


def test_all_invalid_gives_no_batch() -> None:
    batch, rejected = decode_values(READINGS, [b'{"seq":1}'])
    assert batch is None
    assert len(rejected) == 1


def test_dead_letter_values_decode_with_their_schema() -> None:
    schema = DeadLetterSchema()
    values = schema.encode_json(schema.decode_records(dead_letters_for([{"a": 1}], "boom", "s")))
    batch, rejected = decode_values(schema, values)
    assert rejected == []
    assert batch is not None
    assert schema.to_objects(batch)[0].original_record == {"a": 1}
