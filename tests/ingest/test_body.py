"""Content negotiation, bounded gzip and invalid-record extraction (no event loop)."""

from __future__ import annotations

import gzip

import pytest

from cascade_rt.ingest import BodyError, choose_format, gunzip, invalid_records
from cascade_rt.ingest._body import check_encoding, detect_format, format_for


@pytest.mark.parametrize(
    ("content_type", "endpoint_format", "expected"),
    [
        ("application/json", "JSON", "JSON"),
        ("application/json", "JSON_ARRAY", "JSON_ARRAY"),
        ("application/json", None, "AUTO"),
        ("", None, "AUTO"),
        ("application/vnd.orders+json", "JSON", "JSON"),
        ("application/x-ndjson", "JSON", "NDJSON"),
        ("application/jsonl", None, "NDJSON"),
    ],
)
def test_choose_format_maps_content_type_and_endpoint_format(content_type: str, endpoint_format: str | None, expected: str) -> None:
    assert choose_format(content_type, endpoint_format) == expected


def test_choose_format_refuses_other_media_types_with_415() -> None:
    with pytest.raises(BodyError, match=r"unsupported Content-Type 'text/csv'; send application/json") as info:
        choose_format("text/csv", None)
    assert info.value.status == 415


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", "AUTO"),
        ("Application/JSON; charset=utf-8", "AUTO"),
        (" application/x-ndjson ;charset=UTF-8", "NDJSON"),
        ("", "AUTO"),
    ],
)
def test_format_for_reads_the_header_as_sent(header: str, expected: str) -> None:
    assert format_for(header, None) == expected
    assert format_for(header, None) == expected  # the cached answer


def test_format_for_refuses_other_media_types_every_time() -> None:
    for _ in range(2):  # a refusal is not cached as an answer
        with pytest.raises(BodyError, match=r"unsupported Content-Type 'text/csv'") as info:
            format_for("Text/CSV; header=present", None)
        assert info.value.status == 415


def test_check_encoding_takes_gzip_and_identity_only() -> None:
    assert check_encoding("gzip") is True
    assert check_encoding("x-gzip") is True
    assert check_encoding("identity") is False
    assert check_encoding("") is False
    with pytest.raises(BodyError, match=r"unsupported Content-Encoding 'br'; send gzip or identity"):
        check_encoding("br")


def test_gunzip_round_trips_and_accepts_concatenated_members() -> None:
    assert gunzip(gzip.compress(b'{"a":1}'), 100) == b'{"a":1}'
    assert gunzip(gzip.compress(b"[1,") + gzip.compress(b"2]"), 100) == b"[1,2]"


def test_gunzip_refuses_a_gzip_bomb_with_413_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(BodyError, match=r"decompressed body exceeds the limit of 1048576 bytes") as info:
        gunzip(bomb, 1024 * 1024)
    assert info.value.status == 413


def test_gunzip_accepts_a_body_exactly_at_the_limit() -> None:
    assert len(gunzip(gzip.compress(b"x" * 1000), 1000)) == 1000
    with pytest.raises(BodyError, match="exceeds the limit of 999 bytes"):
        gunzip(gzip.compress(b"x" * 1000), 999)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": 1}', "Content-Encoding is gzip but the body is not gzip data"),
        (gzip.compress(b'{"a": 1}', mtime=0)[:-12], "truncated gzip body"),
        (b"\x1f\x8b" + b"garbage" * 3, "invalid gzip body"),
    ],
)
def test_gunzip_answers_400_for_data_that_is_not_gzip(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message) as info:
        gunzip(body, 1000)
    assert info.value.status == 400


def test_detect_format_resolves_auto_from_the_first_byte() -> None:
    assert detect_format(b"  [1]", "AUTO") == "JSON_ARRAY"
    assert detect_format(b'{"a":1}', "AUTO") == "JSON"
    assert detect_format(b"[1]", "NDJSON") == "NDJSON"


def test_invalid_records_keeps_only_the_invalid_ones_in_error_order() -> None:
    body = b'[{"id": "a"}, {"id" : 2}, {"id": "c"}, {"id":  4}]'
    errors = [{"index": 1, "path": "$.id", "message": "x"}, {"index": 3, "path": "$.id", "message": "y"}]
    records, fmt = invalid_records(body, "AUTO", errors)
    assert (records, fmt) == (b'[{"id" : 2},{"id":  4}]', "JSON_ARRAY")


def test_invalid_records_counts_ndjson_records_skipping_blank_lines() -> None:
    body = b'{"id": "a"}\n\n{"id": 2}\n{"id": "c"}\n'
    records, fmt = invalid_records(body, "NDJSON", [{"index": 1, "path": "$.id", "message": "x"}])
    assert (records, fmt) == (b'{"id": 2}\n', "NDJSON")


@pytest.mark.parametrize(
    ("body", "fmt", "errors"),
    [
        (b'{"id": 2}', "JSON", [{"index": 0, "path": "$.id", "message": "x"}]),
        (b"[1, 2", "JSON_ARRAY", [{"index": None, "path": "$", "message": "malformed"}]),
        (b"[1]", "JSON_ARRAY", [{"index": 5, "path": "$", "message": "out of range"}]),
    ],
)
def test_invalid_records_falls_back_to_the_whole_body(body: bytes, fmt: str, errors: list[dict[str, object]]) -> None:
    assert invalid_records(body, fmt, errors) == (body, fmt)
