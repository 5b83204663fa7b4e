"""GET /health, /ready, /metrics and /admin/actors; the metric collectors without a server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cascade_rt.ingest import StaticState
from cascade_rt.observe import (
    ActorTreeCollector,
    IngestMetrics,
    health_report,
    readiness,
    register_actor_tree,
)

from ._doubles import RecordingEndpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from cascade_rt.schema import RecordSchema

pytestmark = pytest.mark.anyio

TREE = {
    "name": "app", "path": "app", "kind": "root", "state": "running", "mailbox_depth": 0, "restarts": 0,
    "children": [
        {"name": "events", "path": "app/pipelines/events/table", "kind": "OlapTable", "state": "running",
         "mailbox_depth": 7, "mailbox_high_water": 40, "mailbox_capacity": 1000, "processed": 12,
         "failures": 1, "restarts": 2, "dead_letters": {"overflow": 3, "crash": 1}, "blocked_seconds": 0.5,
         "latency_ms": 1.25, "children": []},
        {"name": "orders", "path": "app/pipelines/orders/table", "kind": "OlapTable", "state": "failed",
         "restarts": 10, "children": []},
    ],
}


def test_actor_tree_collector_exports_mailbox_depth_restarts_and_state() -> None:
    registry = CollectorRegistry()
    registry.register(ActorTreeCollector(lambda: TREE))
    text = generate_latest(registry).decode()
    assert 'cascade_actor_mailbox_depth{actor="app/pipelines/events/table",kind="OlapTable"} 7.0' in text
    assert 'cascade_actor_restarts_total{actor="app/pipelines/events/table",kind="OlapTable"} 2.0' in text
    assert 'cascade_actor_dead_letters_total{actor="app/pipelines/events/table",kind="OlapTable"} 4.0' in text
    assert 'cascade_actor_state{actor="app/pipelines/orders/table",kind="OlapTable",state="failed"} 1.0' in text
    assert 'cascade_actor_state{actor="app/pipelines/orders/table",kind="OlapTable",state="running"} 0.0' in text


def test_actor_tree_collector_yields_nothing_when_the_tree_cannot_be_read() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("system stopped")

    registry = CollectorRegistry()
    registry.register(ActorTreeCollector(broken))
    assert "cascade_actor" not in generate_latest(registry).decode()


def test_metrics_are_created_once_per_registry() -> None:
    registry = CollectorRegistry()
    assert IngestMetrics.on(registry) is IngestMetrics.on(registry)
    assert register_actor_tree(registry, lambda: TREE) is register_actor_tree(registry, dict)
    IngestMetrics.on(registry).observe_commit("events", 0.02)
    assert 'cascade_commit_seconds_count{pipeline="events"} 1.0' in generate_latest(registry).decode()


def test_ingest_histograms_count_a_value_on_a_bound_in_that_bucket_and_render_cumulatively() -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics.on(registry)
    for seconds in (0.001, 0.0011, 0.05, 99.0):
        metrics.pipeline("events").latency.observe(seconds)
    metrics.count_request("events", 503)
    lines = set(generate_latest(registry).decode().splitlines())
    bucket = 'cascade_ingest_request_seconds_bucket{le="%s",pipeline="events"} %s'
    expected = {bucket % ("0.001", "1.0"), bucket % ("0.0025", "2.0"), bucket % ("0.05", "3.0"),
                bucket % ("30.0", "3.0"), bucket % ("+Inf", "4.0"),
                'cascade_ingest_request_seconds_sum{pipeline="events"} 99.0521',
                'cascade_ingest_requests_total{pipeline="events",status="503"} 1.0',
                'cascade_ingest_records_rejected_total{pipeline="events"} 0.0'}
    assert expected - lines == set()


def test_health_report_marks_failed_actors_and_merges_state_details() -> None:
    state = StaticState(tree=lambda: TREE, health=lambda: {"asset:daily": {"status": "warn", "age_hours": 30}})
    state.set_ready()
    report = health_report(state)
    assert report["status"] == "fail"
    assert report["components"]["actor:app/pipelines/orders/table"] == {
        "status": "fail", "state": "failed", "restarts": 10}
    assert report["components"]["asset:daily"] == {"status": "warn", "age_hours": 30}
    assert report["components"]["actors"] == {"status": "ok", "states": {"running": 2, "failed": 1}}


def test_readiness_follows_start_and_shutdown() -> None:
    state = StaticState()
    assert readiness(state) == (503, {"ready": False, "reason": "starting"})
    state.set_ready()
    assert readiness(state) == (200, {"ready": True})
    state.begin_shutdown()
    assert readiness(state) == (503, {"ready": False, "reason": "shutting down"})


def test_readiness_accepts_a_bare_bool_from_state() -> None:
    class BoolState(StaticState):
        def ready(self) -> bool:  # type: ignore[override]
            return False

    assert readiness(BoolState()) == (503, {"ready": False, "reason": "starting"})


async def test_health_is_200_with_components(make_server: Callable[..., Any]) -> None:
    async with make_server([]) as server, server.get("/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["components"]["server"] == {"status": "ok", "ready": True, "shutting_down": False}


async def test_ready_is_503_until_started_then_200_then_503_when_stopping(make_server: Callable[..., Any]) -> None:
    async with make_server([], ready=False) as server:
        async with server.get("/ready") as response:
            assert (response.status, await response.json()) == (503, {"ready": False, "reason": "starting"})
        server.state.set_ready()
        async with server.get("/ready") as response:
            assert (response.status, await response.json()) == (200, {"ready": True})
        server.state.begin_shutdown()
        async with server.get("/ready") as response:
            assert (response.status, await response.json()) == (503, {"ready": False, "reason": "shutting down"})


async def test_metrics_text_counts_accepted_rejected_and_bytes_after_ingest(make_server: Callable[..., Any], schema: RecordSchema) -> None:
    endpoint = RecordingEndpoint("events", schema)
    good = b'[{"id": "1", "name": "a", "value": 1}, {"id": "2", "name": "b", "value": 2}]'
    bad = b'[{"id": 1, "name": "a", "value": 1}]'
    async with make_server([endpoint]) as server:
        for body in (good, bad):
            async with server.post("/ingest/events", body) as response:
                await response.read()
        async with server.get("/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
    assert 'cascade_ingest_records_accepted_total{pipeline="events"} 2.0' in text
    assert 'cascade_ingest_records_rejected_total{pipeline="events"} 1.0' in text
    assert f'cascade_ingest_bytes_total{{pipeline="events"}} {float(len(good) + len(bad))}' in text
    assert 'cascade_ingest_requests_total{pipeline="events",status="200"} 1.0' in text
    assert 'cascade_ingest_requests_total{pipeline="events",status="400"} 1.0' in text
    assert 'cascade_ingest_request_seconds_count{pipeline="events"} 2.0' in text
    assert 'cascade_actor_state{actor="root",kind="root",state="running"} 1.0' in text


async def test_admin_actors_returns_the_tree_and_needs_the_token(make_server: Callable[..., Any]) -> None:
    async with make_server([], token="secret") as server:
        server.state._tree = lambda: TREE
        async with server.get("/admin/actors") as response:
            assert (response.status, await response.json()) == (401, {"error": "missing or wrong bearer token"})
        async with server.get("/admin/actors", headers={"Authorization": "Bearer secret"}) as response:
            assert (response.status, await response.json()) == (200, TREE)


async def test_unknown_path_gets_404_as_json(make_server: Callable[..., Any]) -> None:
    async with make_server([]) as server, server.get("/nope") as response:
        assert (response.status, await response.json()) == (404, {"error": "Not Found"})
