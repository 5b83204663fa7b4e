"""Declarations: the Moose pipeline API, config coercion, wiring, naming and registration."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from cascade_rt import Key
from cascade_rt._registry import Registry, default_registry
from cascade_rt.pipeline import (
    DeadLetterQueue,
    IngestApi,
    IngestPipeline,
    IngestPipelineConfig,
    OlapConfig,
    OlapTable,
    Stream,
    StreamConfig,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Reading(BaseModel):
    id: Key[str]
    name: str
    value: float


class Plain(msgspec.Struct):
    name: str


@pytest.fixture
def registry() -> Registry:
    return Registry()


def test_pipeline_with_all_parts_wires_api_to_stream_to_table(registry: Registry) -> None:
    p = IngestPipeline[Reading]("Readings", {"table": True, "stream": True, "ingest_api": True}, registry=registry)
    assert p.table is not None
    assert p.stream is not None
    assert p.ingest_api is not None
    assert p.stream.destination is p.table
    assert p.ingest_api.destination is p.stream
    assert p.dead_letter_queue is not None
    assert p.dead_letter_queue.name == "ReadingsDeadLetterQueue"
    assert p.ingest_api.config.dead_letter_queue is p.dead_letter_queue
    assert p.ingest_api.path == "/ingest/Readings"
    assert p.table.identifier == ("default", "Readings")
    assert registry.get("pipeline", "Readings") is p
    assert registry.get("table", "Readings") is p.table
    assert registry.get("stream", "Readings") is p.stream
    assert registry.get("ingest_api", "Readings") is p.ingest_api


def test_ingest_api_goes_straight_to_table_without_stream(registry: Registry) -> None:
    p = IngestPipeline[Reading]("Direct", {"table": True, "stream": False, "ingest_api": True}, registry=registry)
    assert p.stream is None
    assert p.ingest_api is not None
    assert p.ingest_api.destination is p.table


def test_pipeline_without_destination_for_api_fails(registry: Registry) -> None:
    with pytest.raises(ValueError, match="ingest_api needs a stream or a table"):
        IngestPipeline[Reading]("Nowhere", {"table": False, "stream": False, "ingest_api": True}, registry=registry)
    assert registry.names("dead_letter_queue") == []


def test_typed_configs_are_accepted(registry: Registry) -> None:
    cfg = IngestPipelineConfig(table=OlapConfig(order_by_fields=["id"], deduplicate=True),
                               stream=StreamConfig(parallelism=2), ingest_api=True)
    p = IngestPipeline[Reading]("Typed", cfg, registry=registry)
    assert p.table is not None
    assert p.table.config.deduplicate is True
    assert p.stream is not None
    assert p.stream.config.parallelism == 2


def test_nested_typed_config_inside_dict(registry: Registry) -> None:
    p = IngestPipeline[Reading]("Mixed", {"table": OlapConfig(deduplicate=True)}, registry=registry)
    assert p.table is not None
    assert p.table.config.deduplicate is True


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tabel": True}, r"unknown key `tabel`; known keys: `table`"),
        ({"table": {"deduplicate": "yes"}}, r"Expected `bool`, got `str` - at `\$.table.deduplicate`"),
        ({"ingest_api": {"format": "XML"}}, r"Invalid enum value 'XML' - at `\$.ingest_api.format`"),
        ({"stream": {"parallelism": "4"}}, r"Expected `int`, got `str` - at `\$.stream.parallelism`"),
        ({"table": {"sort": ["id"]}}, r"unknown key `sort` - at `\$.table`"),
    ],
)
def test_bad_config_fails_at_declaration_naming_the_key(registry: Registry, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=rf"IngestPipeline 'Bad': invalid config: {message}"):
        IngestPipeline[Reading]("Bad", config, registry=registry)
    assert list(registry) == []


def test_config_of_wrong_kind_is_a_type_error(registry: Registry) -> None:
    with pytest.raises(TypeError, match="config must be a dict or IngestPipelineConfig, got list"):
        IngestPipeline[Reading]("Bad", [("table", True)], registry=registry)  # type: ignore[arg-type]


def test_duplicate_names_fail_with_both_places(registry: Registry) -> None:
    IngestPipeline[Reading]("Twice", {}, registry=registry)
    with pytest.raises(ValueError, match=r"a pipeline named 'Twice' is already defined \(first defined as "):
        IngestPipeline[Reading]("Twice", {}, registry=registry)
    with pytest.raises(ValueError, match="a table named 'Twice' is already defined"):
        OlapTable[Reading]("Twice", registry=registry)


def test_versioned_pipeline_names_parts_and_path(registry: Registry) -> None:
    p = IngestPipeline[Reading]("Orders", {"version": "1.2"}, registry=registry)
    assert p.table is not None
    assert p.table.table_name == "Orders_1_2"
    assert p.stream is not None
    assert p.stream.stream_name == "Orders_1_2"
    assert p.ingest_api is not None
    assert p.ingest_api.path == "/ingest/Orders/1.2"
    # Another version of the same pipeline may live beside it.
    q = IngestPipeline[Reading]("Orders", {"version": "2.0"}, registry=registry)
    assert q.table is not None
    assert q.table.identifier == ("default", "Orders_2_0")


def test_missing_schema_is_explained(registry: Registry) -> None:
    with pytest.raises(TypeError, match=r"needs a schema: write OlapTable\[MySchema\]\('t', ...\)"):
        OlapTable("t", registry=registry)


def test_order_by_must_name_fields(registry: Registry) -> None:
    with pytest.raises(ValueError, match="order_by_fields names `when`, which is not a field of Reading"):
        OlapTable[Reading]("t", {"order_by_fields": ["when"]}, registry=registry)


def test_deduplicate_needs_a_key(registry: Registry) -> None:
    with pytest.raises(ValueError, match="deduplicate=True needs a key"):
        OlapTable[Plain]("t", {"deduplicate": True}, registry=registry)


def test_stream_transform_and_consumer_checks(registry: Registry) -> None:
    src = Stream[Reading]("src", registry=registry)
    dst = Stream[Reading]("dst", registry=registry)
    src.add_transform(dst, lambda r: r)
    src.add_consumer(print)
    assert [t.destination for t in src.transforms] == [dst]
    with pytest.raises(TypeError, match="add_transform needs a destination Stream, got str"):
        src.add_transform("dst", lambda r: r)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must take exactly one record"):
        src.add_consumer(lambda a, b: None)  # type: ignore[arg-type,misc]
    with pytest.raises(ValueError, match="parallelism must be at least 1, got 0"):
        Stream[Reading]("zero", {"parallelism": 0}, registry=registry)


def test_standalone_parts_with_destinations(registry: Registry) -> None:
    table = OlapTable[Reading]("events", registry=registry)
    stream = Stream[Reading]("events", {"destination": table}, registry=registry)
    api = IngestApi[Reading]("events", {"destination": stream, "format": "JSON"}, registry=registry)
    dlq = DeadLetterQueue[Reading]("events_dlq", registry=registry)
    assert stream.destination is table
    assert api.destination is stream
    assert api.format == "JSON"
    assert registry.get("dead_letter_queue", "events_dlq") is dlq


def test_seed_examples_run_unchanged_and_register() -> None:
    reg = default_registry()
    reg.clear()
    try:
        ns = runpy.run_path(str(EXAMPLES / "ingest_pipelines.py"))
        assert {"ExamplePipeline", "ComprehensivePipeline"} <= set(reg.names("pipeline"))
        comp = ns["ComprehensivePipeline"]
        assert comp.table.config.order_by_fields == ["id", "timestamp"]
        assert comp.table.config.deduplicate is True
        assert comp.stream.config.parallelism == 4
        assert comp.stream.config.retention_period == 86400
        assert comp.ingest_api.format == "JSON_ARRAY"
    finally:
        reg.clear()
