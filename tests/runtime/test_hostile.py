"""Hostile bodies over HTTP: every one gets a 4xx naming the problem, never a 5xx (issue 16)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import orjson
import pytest

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry
from cascade_rt.batch._nesting import TOO_DEEP

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio"),
                        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


class Flat(msgspec.Struct):
    id: Key[str]
    value: float
    meta: dict[str, Any] = {}


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


GOOD = b'{"id":"a","value":1}'
# (label, body, JSON framing) of each deep-nesting input class: the whole body, a record, a free-form field.
DEEP = [
    ("bare arrays", b"[" * 5000, None),
    ("closed arrays", _deep(5000), None),
    ("bare objects", b'{"a":' * 5000, None),
    ("in a record", b'{"id":"a","value":1,"meta":{"x":' + _deep(3000) + b"}}", "record"),
]
HEADERS = {
    "JSON": {"Content-Type": "application/json"},
    "NDJSON": {"Content-Type": "application/x-ndjson"},
}


def _bodies() -> list[tuple[str, bytes, dict[str, str]]]:
    out = []
    for label, deep, _ in DEEP:
        out.append((f"{label} as JSON", deep, HEADERS["JSON"]))
        out.append((f"{label} in an array", b"[" + GOOD + b"," + deep + b"]", HEADERS["JSON"]))
        out.append((f"{label} as an NDJSON line", GOOD + b"\n" + deep + b"\n", HEADERS["NDJSON"]))
        out.append((f"{label} gzipped", gzip.compress(deep), {**HEADERS["JSON"], "Content-Encoding": "gzip"}))
    return out


async def test_deep_nesting_gets_400_naming_the_limit_on_every_path(registry: Registry, home: Path) -> None:
    IngestPipeline[Flat]("Auto", {}, registry=registry)  # AUTO: an object or an array
    IngestPipeline[Flat]("Arrays", {"ingest_api": {"format": "JSON_ARRAY"}}, registry=registry)
    IngestPipeline[Flat]("Objects", {"ingest_api": {"format": "JSON"}}, registry=registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for name in ("Auto", "Arrays", "Objects"):
                for label, body, headers in _bodies():
                    async with http.post(f"/ingest/{name}", data=body, headers=headers) as resp:
                        payload = await resp.json()
                        assert resp.status == 400, (name, label, payload)
                    messages = [d["message"] for d in payload["details"]]
                    # The nesting is named unless the body was refused for its shape first.
                    assert any(TOO_DEEP in m or "Expected" in m for m in messages), (name, label, messages)
            async with http.post("/ingest/Auto?wait=table", data=b"[" + GOOD + b"]") as resp:
                assert resp.status == 200
        letters = rt.dead_letter_queues["AutoDeadLetterQueue"].read()
        assert any(TOO_DEEP in letter.error_message for letter in letters)
        assert rt.table("Auto").num_rows == 1


@pytest.mark.parametrize("label", [d[0] for d in DEEP])
def test_every_format_names_the_nesting(label: str) -> None:
    from cascade_rt.batch import ValidationError
    from cascade_rt.schema import RecordSchema

    schema = RecordSchema.of(Flat)
    deep = dict((d[0], d[1]) for d in DEEP)[label]
    for fmt, body in [("JSON", deep), ("AUTO", deep), ("JSON_ARRAY", b"[" + GOOD + b"," + deep + b"]"),
                      ("NDJSON", GOOD + b"\n" + deep)]:
        with pytest.raises(ValidationError) as info:
            schema.decode(body, fmt)
        messages = [e["message"] for e in info.value.errors]
        if fmt == "NDJSON":
            assert info.value.errors == [{"index": 1, "path": "$", "message": TOO_DEEP}], label
        elif label != "bare objects" or fmt != "JSON_ARRAY":
            assert TOO_DEEP in messages or any("Expected" in m for m in messages), (fmt, messages)


def test_nesting_within_the_limit_decodes() -> None:
    from cascade_rt.batch._nesting import MAX_NESTING
    from cascade_rt.schema import RecordSchema

    schema = RecordSchema.of(Flat)
    inner = _deep(MAX_NESTING - 2)  # the record and ``meta`` are two levels
    batch = schema.decode(b'{"id":"a","value":1,"meta":{"x":' + inner + b"}}", "JSON")
    assert orjson.loads(batch.column("meta")[0].as_py()) == {"x": orjson.loads(inner)}


async def test_a_record_nested_past_orjsons_limit_reaches_the_dead_letter_queue_whole(
    registry: Registry, home: Path
) -> None:
    IngestPipeline[Flat]("Nested", {}, registry=registry)
    deep = b"[" * 600 + b"]" * 600  # within the decoder's refusal, past what orjson writes (255 levels)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/ingest/Nested", data=b"[" + GOOD + b"," + deep + b"]",
                                 headers=HEADERS["JSON"]) as resp:
                assert resp.status == 400, await resp.text()
        letters = rt.dead_letter_queues["NestedDeadLetterQueue"].read()
    (letter,) = letters  # the invalid record alone, kept whole
    nested = letter.original_record
    depth = 0
    while isinstance(nested, list) and nested:
        nested, depth = nested[0], depth + 1
    assert (nested, depth) == ([], 599)
