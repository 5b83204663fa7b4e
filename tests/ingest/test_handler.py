"""POST /ingest through a real aiohttp server: every status, formats, gzip, token, acknowledgement."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from typing import TYPE_CHECKING, Any, cast

import anyio
import pytest

from cascade_rt.ingest import Backpressure, StaticState, Unavailable
from cascade_rt.ingest._handler import IngestHandler, _one_line_object

from ._doubles import RecordingEndpoint

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import pyarrow as pa
    from aiohttp import web

    from cascade_rt.ingest._handler import _Route
    from cascade_rt.schema import RecordSchema

pytestmark = pytest.mark.anyio

ARRAY = json.dumps([{"id": str(i), "name": f"n{i}", "value": i / 2} for i in range(5)]).encode()
ONE = b'{"id": "1", "name": "a", "value": 1.5}'
NDJSON = {"Content-Type": "application/x-ndjson"}


async def test_array_is_acknowledged_with_its_count_after_submit(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema, format="JSON_ARRAY")
    async with make_server([endpoint]) as server, server.post("/ingest/events", ARRAY) as response:
        assert response.status == 200
        assert await response.json() == {"accepted": 5}
    assert [b.num_rows for b in endpoint.batches] == [5]
    assert endpoint.batches[0].column("value").to_pylist() == [0.0, 0.5, 1.0, 1.5, 2.0]


async def test_json_endpoint_takes_one_object_and_refuses_an_array(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema, format="JSON")
    async with make_server([endpoint]) as server:
        async with server.post("/ingest/events", ONE) as response:
            assert (response.status, await response.json()) == (200, {"accepted": 1})
        async with server.post("/ingest/events", ARRAY) as response:
            assert response.status == 400
            body = await response.json()
    assert body["error"] == "invalid JSON body; nothing was accepted"
    assert body["details"] == [{"index": None, "path": "$", "message": "Expected `object`, got `array`"}]
    assert endpoint.rejected == [(ARRAY, body["details"], "JSON")]


async def test_endpoint_without_format_takes_object_or_array(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    async with make_server([endpoint]) as server:
        for data, count in ((ONE, 1), (ARRAY, 5)):
            async with server.post("/ingest/events", data) as response:
                assert (response.status, await response.json()) == (200, {"accepted": count})


async def test_ndjson_content_type_decodes_one_record_per_line(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema, format="JSON")
    body = ONE + b"\n\n" + ONE.replace(b'"1"', b'"2"') + b"\n"
    async with make_server([endpoint]) as server, server.post("/ingest/events", body, headers=NDJSON) as response:
        assert (response.status, await response.json()) == (200, {"accepted": 2})
    assert endpoint.batches[0].column("id").to_pylist() == ["1", "2"]


async def test_gzip_body_is_decompressed(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with make_server([endpoint]) as server:
        async with server.post("/ingest/events", gzip.compress(ARRAY), headers=headers) as response:
            assert (response.status, await response.json()) == (200, {"accepted": 5})


async def test_gzip_bomb_gets_413(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    bomb = gzip.compress(b" " * (32 * 1024 * 1024), compresslevel=9)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with make_server([endpoint], max_body=1024 * 1024) as server:
        async with server.post("/ingest/events", bomb, headers=headers) as response:
            assert response.status == 413
            assert await response.json() == {"error": "decompressed body exceeds the limit of 1048576 bytes"}
    assert endpoint.batches == []


async def test_body_over_the_limit_gets_413_with_or_without_content_length(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * 512

    async with make_server([endpoint], max_body=1000) as server:
        async with server.post("/ingest/events", b" " * 1001) as response:
            assert response.status == 413
            assert await response.json() == {"error": "body of 1001 bytes exceeds the limit of 1000 bytes"}
        async with server.post("/ingest/events", chunks()) as response:
            assert response.status == 413
            assert await response.json() == {"error": "body exceeds the limit of 1000 bytes"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "text/csv"}, "unsupported Content-Type 'text/csv'; send application/json "
                                       "(or application/x-ndjson, one record per line)"),
        ({"Content-Type": "application/json", "Content-Encoding": "br"},
         "unsupported Content-Encoding 'br'; send gzip or identity"),
    ],
)
async def test_unsupported_content_type_or_encoding_gets_415(make_server: Callable[..., Any], schema: RecordSchema, headers: dict[str, str], message: str) -> None:
    async with make_server([RecordingEndpoint("events", schema)]) as server:
        async with server.post("/ingest/events", ONE, headers=headers) as response:
            assert (response.status, await response.json()) == (415, {"error": message})


async def test_unknown_name_gets_404_listing_known_apis(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoints = [RecordingEndpoint("events", schema), RecordingEndpoint("orders", schema, version="2")]
    async with make_server(endpoints) as server, server.post("/ingest/nope", ONE) as response:
        assert response.status == 404
        assert await response.json() == {"error": "no ingest API at /ingest/nope",
                                         "known": ["/ingest/events", "/ingest/orders/2"]}


async def test_endpoint_added_after_start_is_served(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    async with make_server([]) as server:
        server.state.add(RecordingEndpoint("late", schema))
        async with server.post("/ingest/late", ONE) as response:
            assert response.status == 200


async def test_wrong_method_gets_405_as_json(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    async with make_server([RecordingEndpoint("events", schema)]) as server:
        async with server.get("/ingest/events") as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST"
            assert await response.json() == {"error": "Method Not Allowed"}


async def test_versioned_endpoint_is_served_only_on_its_versioned_path(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    v1 = RecordingEndpoint("orders", schema, version="1.0")
    v2 = RecordingEndpoint("orders", schema, version="2.0")
    async with make_server([v1, v2]) as server:
        async with server.post("/ingest/orders/2.0", ONE) as response:
            assert (response.status, await response.json()) == (200, {"accepted": 1})
        async with server.post("/ingest/orders", ONE) as response:
            assert response.status == 404
            assert (await response.json())["known"] == ["/ingest/orders/1.0", "/ingest/orders/2.0"]
    assert (len(v1.batches), len(v2.batches)) == (0, 1)


async def test_invalid_records_reject_the_whole_request_and_only_they_reach_the_dlq(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    body = b'[{"id": "1", "name": "a", "value": 1}, {"id": 2, "name": "b", "value": 2}, ' \
           b'{"id": "3", "name": "c", "value": "x"}]'
    async with make_server([endpoint]) as server, server.post("/ingest/events", body) as response:
        assert response.status == 400
        payload = await response.json()
    details = [
        {"index": 1, "path": "$.id", "message": "Expected `str`, got `int`"},
        {"index": 2, "path": "$.value", "message": "Expected `float`, got `str`"},
    ]
    assert payload == {"error": "2 invalid record(s); nothing was accepted", "details": details}
    assert endpoint.batches == []
    assert endpoint.rejected == [
        (b'[{"id": 2, "name": "b", "value": 2},{"id": "3", "name": "c", "value": "x"}]', details, "JSON_ARRAY")
    ]


async def test_malformed_json_gets_400_with_a_body_level_detail(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    async with make_server([RecordingEndpoint("events", schema)]) as server:
        async with server.post("/ingest/events", b"[{") as response:
            assert response.status == 400
            (detail,) = (await response.json())["details"]
    assert (detail["index"], detail["path"]) == (None, "$")


async def test_invalid_utf8_gets_400_naming_the_record(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    body = b'[{"id": "1", "name": "a", "value": 1},{"id": "2", "name": "\xff", "value": 2}]'
    async with make_server([RecordingEndpoint("events", schema)]) as server:
        async with server.post("/ingest/events", body) as response:
            assert response.status == 400
            details = (await response.json())["details"]
    assert details == [{"index": 1, "path": "$", "message": "JSON is malformed: invalid UTF-8"}]


@pytest.mark.parametrize(
    "body",
    [b"[" * 5000, b'{"id": "1", "x": ' + b"[" * 5000, b'[{"id": "1", "name": "a", "value": 1, "x": ' + b"{\"a\":" * 3000 + b"1"],
    ids=["arrays", "one-object", "inside-a-record"],
)
async def test_deeply_nested_bodies_get_400_naming_the_limit(
    make_server: Callable[..., Any], schema: RecordSchema, body: bytes
) -> None:
    endpoint = RecordingEndpoint("events", schema)
    async with make_server([endpoint]) as server:
        async with server.post("/ingest/events", body) as response:
            assert response.status == 400
            details = (await response.json())["details"]
        async with server.post("/ingest/events", b'[{"id": "2", "name": "b", "value": 2}]') as response:
            assert response.status == 200  # the server goes on serving
    assert details[0]["index"] in (None, 0)  # the body, or its one record
    assert details[0]["message"].startswith("JSON nests")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Basic c2VjcmV0", "Bearer secret-but-longer"]
)
async def test_missing_or_wrong_token_gets_401(make_server: Callable[..., Any], schema: RecordSchema, authorization: str | None) -> None:
    endpoint = RecordingEndpoint("events", schema)
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    async with make_server([endpoint], token="secret") as server:
        async with server.post("/ingest/events", ONE, headers=headers) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert await response.json() == {"error": "missing or wrong bearer token"}
    assert endpoint.batches == []


async def test_token_defaults_from_the_environment(make_server: Callable[..., Any], schema: RecordSchema, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASCADE_INGEST_TOKEN", "from-env")
    async with make_server([RecordingEndpoint("events", schema)], token=None) as server:
        async with server.post("/ingest/events", ONE) as response:
            assert response.status == 401
        headers = {"Content-Type": "application/json", "Authorization": "Bearer from-env"}
        async with server.post("/ingest/events", ONE, headers=headers) as response:
            assert response.status == 200


async def test_backpressure_past_the_wait_budget_gets_503_and_nothing_is_written(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.gate = anyio.Event()  # never opens: admission never succeeds
    with anyio.fail_after(10):
        async with make_server([endpoint], wait_budget=0.05) as server:
            async with server.post("/ingest/events", ARRAY) as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "1"
                assert await response.json() == {"error": "ingest API 'events' is at capacity"}
    assert endpoint.waiting.is_set()
    assert endpoint.batches == []


@pytest.mark.parametrize("body", [ARRAY, b'[{"id": 1}]', b"{not json"], ids=["valid", "invalid", "malformed"])
async def test_a_full_endpoint_is_answered_503_before_the_body_is_read(make_server: Callable[..., Any], schema: RecordSchema, body: bytes) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.refuse = Backpressure("events", retry_after=7.0)
    async with make_server([endpoint]) as server:
        async with server.post("/ingest/events", body) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "7"
            assert await response.json() == {"error": "ingest API 'events' is at capacity"}
        endpoint.refuse = Unavailable("events", "shutting down", retry_after=5.0)
        async with server.post("/ingest/events", body) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert await response.json() == {"error": "ingest API 'events' is unavailable: shutting down"}
        endpoint.refuse = None  # the same connection serves the next request
        async with server.post("/ingest/events", ARRAY) as response:
            assert response.status == 200
    assert not endpoint.waiting.is_set()
    assert endpoint.rejected == []  # not decoded: nothing went to the dead-letter queue
    assert len(endpoint.batches) == 1


async def test_admitted_batch_is_acknowledged_even_when_durability_outlasts_the_budget(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.durable = anyio.Event()
    with anyio.fail_after(10):
        async with make_server([endpoint], wait_budget=0.01) as server:
            async with anyio.create_task_group() as tg:
                result: list[int] = []

                async def send() -> None:
                    async with server.post("/ingest/events", ARRAY) as response:
                        result.append(response.status)

                tg.start_soon(send)
                await endpoint.admitted.wait()
                await anyio.sleep(0.1)  # ten budgets pass while the write is in flight
                assert result == []
                endpoint.durable.set()
    assert result == [200]
    assert len(endpoint.batches) == 1


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (Backpressure("events", retry_after=3), "ingest API 'events' is at capacity"),
        (Unavailable("events", "its table writer failed", retry_after=7),
         "ingest API 'events' is unavailable: its table writer failed"),
    ],
)
async def test_endpoint_refusals_get_503_with_retry_after(make_server: Callable[..., Any], schema: RecordSchema, error: Backpressure | Unavailable, message: str) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.fail_with = error
    async with make_server([endpoint]) as server, server.post("/ingest/events", ONE) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == str(error.retry_after)
        assert await response.json() == {"error": message}


async def test_shutting_down_gets_503(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    async with make_server([endpoint]) as server:
        server.state.begin_shutdown()
        async with server.post("/ingest/events", ONE) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert await response.json() == {"error": "server is shutting down"}
    assert endpoint.batches == []


async def test_unexpected_error_gets_500_with_an_id_and_no_traceback(make_server: Callable[..., Any], schema: RecordSchema, caplog: pytest.LogCaptureFixture) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.fail_with = RuntimeError("disk on fire")
    with caplog.at_level(logging.ERROR, logger="cascade_rt.ingest"):
        async with make_server([endpoint]) as server, server.post("/ingest/events", ONE) as response:
            assert response.status == 500
            text = await response.text()
    payload = json.loads(text)
    assert set(payload) == {"error", "id"}
    assert payload["error"] == "internal error"
    assert "Traceback" not in text
    assert "disk on fire" not in text
    (record,) = [r for r in caplog.records if payload["id"] in r.getMessage()]
    assert record.exc_info is not None
    assert "disk on fire" in str(record.exc_info[1])
    assert record.getMessage() == f"internal error {payload['id']} handling POST /ingest/events"


async def test_schema_error_without_details_is_an_internal_error(make_server: Callable[..., Any]) -> None:
    class Broken:
        name = "Broken"

        def decode(self, body: bytes, format: str) -> Any:
            raise ValueError("decoder bug")

    async with make_server([RecordingEndpoint("events", Broken())]) as server:
        async with server.post("/ingest/events", ONE) as response:
            assert response.status == 500
            assert (await response.json())["error"] == "internal error"


async def test_endpoint_with_a_bare_submit_signature_is_called_without_a_budget(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    class Bare(RecordingEndpoint):
        async def submit(self, batch: pa.RecordBatch) -> None:  # type: ignore[override]
            self.batches.append(batch)

    endpoint = Bare("events", schema)
    async with make_server([endpoint]) as server, server.post("/ingest/events", ARRAY) as response:
        assert (response.status, await response.json()) == (200, {"accepted": 5})
    assert len(endpoint.batches) == 1


# -- one-object bodies that arrive together are decoded and submitted together -------------------


def _handler(endpoint: RecordingEndpoint, **options: object) -> tuple[IngestHandler, _Route]:
    state = StaticState([endpoint])
    state.set_ready()
    handler = IngestHandler(state, max_body=1 << 20, token=None, wait_budget=0.05, **options)  # type: ignore[arg-type]
    return handler, handler._routes[("events", None)]


def _one(i: int, value: object = 1.5) -> bytes:
    return json.dumps({"id": str(i), "name": f"n{i}", "value": value}).encode()


async def test_one_object_bodies_of_one_loop_turn_go_as_one_batch_and_each_is_acknowledged(schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    handler, route = _handler(endpoint)
    with anyio.fail_after(10):
        responses = cast("list[web.Response]", await asyncio.gather(*(handler._ingest_together(route, _one(i)) for i in range(5))))
    assert [(r.status, json.loads(cast("bytes", r.body))) for r in responses] == [(200, {"accepted": 1})] * 5
    assert [b.num_rows for b in endpoint.batches] == [5]
    assert endpoint.batches[0].column("id").to_pylist() == ["0", "1", "2", "3", "4"]


async def test_a_group_is_acknowledged_only_once_it_is_durable(schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.durable = anyio.Event()
    handler, route = _handler(endpoint)
    with anyio.fail_after(10):
        tasks = [asyncio.ensure_future(handler._ingest_together(route, _one(i))) for i in range(3)]
        await endpoint.admitted.wait()
        await asyncio.sleep(0)
        assert not any(task.done() for task in tasks)
        endpoint.durable.set()
        responses = cast("list[web.Response]", await asyncio.gather(*tasks))
    assert [r.status for r in responses] == [200, 200, 200]


async def test_a_group_with_an_invalid_body_is_answered_body_by_body(schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    handler, route = _handler(endpoint)
    bodies = [_one(0), _one(1, value="x"), _one(2)]
    with anyio.fail_after(10):
        outcomes = await asyncio.gather(*(handler._ingest_together(route, b) for b in bodies))
    assert outcomes == [None, None, None]  # each body is then ingested alone, as any other request


async def test_a_refused_group_answers_503_to_every_member(schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    endpoint.gate = anyio.Event()  # never opens: admission never succeeds
    handler, route = _handler(endpoint)
    with anyio.fail_after(10):
        responses = cast("list[web.Response]", await asyncio.gather(*(handler._ingest_together(route, _one(i)) for i in range(3))))
    assert [(r.status, json.loads(cast("bytes", r.body))) for r in responses] == [
        (503, {"error": "ingest API 'events' is at capacity"})
    ] * 3
    assert endpoint.batches == []


async def test_concurrent_one_object_requests_each_get_their_own_answer_and_dead_letters(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    bad = [b'{"id": 7, "name": "x", "value": 1}', b'{"id": "8", "name": "y", "value": "v"}']
    good = [_one(i) for i in range(6)]

    async def post(server: object, body: bytes) -> tuple[int, object]:
        async with server.post("/ingest/events", body) as response:  # type: ignore[attr-defined]
            return response.status, await response.json()

    with anyio.fail_after(20):
        async with make_server([endpoint]) as server:
            answers = await asyncio.gather(*(post(server, b) for b in [*good[:3], *bad, *good[3:]]))
    assert [a for a in answers if a[0] == 200] == [(200, {"accepted": 1})] * 6
    assert answers[3] == (400, {"error": "1 invalid record(s); nothing was accepted",
                                "details": [{"index": 0, "path": "$.id", "message": "Expected `str`, got `int`"}]})
    assert answers[4] == (400, {"error": "1 invalid record(s); nothing was accepted",
                                "details": [{"index": 0, "path": "$.value", "message": "Expected `float`, got `str`"}]})
    assert sorted(i for b in endpoint.batches for i in b.column("id").to_pylist()) == [str(i) for i in range(6)]
    assert sorted(body for body, _, _ in endpoint.rejected) == sorted(bad)


@pytest.mark.parametrize(
    ("body", "alone"),
    [(b'{"id": "1"}', False), (b'  {"id": "1"}', True), (b'{"id": "1"},{"id": "2"}', False),
     (b'{"id":\n"1"}', True), (b'{"id":\r"1"}', True), (b'[{"id": "1"}]', True), (b'{"id": "1"', False)],
)
def test_only_bodies_that_start_an_object_on_one_line_are_grouped(body: bytes, alone: bool) -> None:
    # Malformed one-line bodies may join: the group's decode fails and each body goes alone.
    assert _one_line_object(body) is not alone


async def test_malformed_one_line_bodies_in_a_group_get_their_own_400(
    make_server: Callable[..., Any], schema: RecordSchema
) -> None:
    endpoint = RecordingEndpoint("events", schema)
    two = b'{"id": "a", "name": "x", "value": 1},{"id": "b", "name": "y", "value": 2}'
    cut = b'{"id": "c", "name": "z"'

    async def post(server: object, body: bytes) -> tuple[int, object]:
        async with server.post("/ingest/events", body) as response:  # type: ignore[attr-defined]
            return response.status, await response.json()

    with anyio.fail_after(20):
        async with make_server([endpoint]) as server:
            answers = await asyncio.gather(*(post(server, b) for b in [_one(0), two, _one(1), cut, _one(2)]))
    assert [a[0] for a in answers] == [200, 400, 200, 400, 200]
    assert answers[1] == (400, {"error": "invalid JSON body; nothing was accepted", "details": [
        {"index": None, "path": "$", "message": "JSON is malformed: trailing characters (byte 37)"}]})
    assert answers[3][1]["details"] == [  # type: ignore[index]
        {"index": None, "path": "$", "message": "JSON is malformed: the body ends inside a value"}]
    assert sorted(i for b in endpoint.batches for i in b.column("id").to_pylist()) == ["0", "1", "2"]


async def test_grouping_can_be_turned_off(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)

    async def post(server: object, i: int) -> int:
        async with server.post("/ingest/events", _one(i)) as response:  # type: ignore[attr-defined]
            status: int = response.status
            return status

    with anyio.fail_after(10):
        async with make_server([endpoint], group_single=False) as server:
            assert await asyncio.gather(*(post(server, i) for i in range(4))) == [200] * 4
    assert [b.num_rows for b in endpoint.batches] == [1, 1, 1, 1]
