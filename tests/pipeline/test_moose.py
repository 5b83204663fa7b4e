"""Moose's Python API as Moose projects use it: configs, engines, getters, transforms, dead letters."""

from __future__ import annotations

import datetime as dt
import warnings
from enum import IntEnum, StrEnum, auto
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from cascade_rt import (
    ClickHouseTTL,
    ConsumerConfig,
    DeadLetterModel,
    IngestPipeline,
    IngestPipelineConfig,
    InsertOptions,
    Int8,
    Key,
    LowCardinality,
    OlapConfig,
    OlapTable,
    ReplacingMergeTreeEngine,
    Runtime,
    Stream,
    StreamConfig,
    StringToEnumMixin,
    SummingMergeTreeEngine,
    TransformConfig,
    UInt8,
    ValidationError,
    clickhouse_default,
)
from cascade_rt._registry import Registry

pytestmark = pytest.mark.anyio


class Baz(StringToEnumMixin, IntEnum):
    QUX = auto()
    QUUX = auto()


class Foo(BaseModel):
    id: Key[str]
    baz: Baz
    small: Int8 = 0
    label: Annotated[str, LowCardinality, clickhouse_default("'x'")] = "x"
    at: dt.datetime | None = None


def test_string_to_enum_mixin_takes_names_and_values() -> None:
    assert Foo(id="a", baz="QUUX").baz is Baz.QUUX  # type: ignore[arg-type]
    assert Foo(id="a", baz=1).baz is Baz.QUX  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid enum name: 'NOPE'; names: QUX, QUUX"):
        Foo(id="a", baz="NOPE")  # type: ignore[arg-type]


def test_an_int_enum_with_the_mixin_takes_member_names_in_json(registry: Registry) -> None:
    schema = OlapTable[Foo]("foo", registry=registry).schema
    assert schema.decode(b'{"id": "a", "baz": "QUUX"}', "JSON").column("baz").to_pylist() == [2]
    assert schema.decode(b'[{"id": "a", "baz": "QUX"}, {"id": "b", "baz": 2}]').column("baz").to_pylist() == [1, 2]
    with pytest.raises(ValidationError, match=r"\$\.baz"):
        schema.decode(b'[{"id": "a", "baz": "NOPE"}]')


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


class Paint(BaseModel):
    id: Key[str]
    color: Color
    tags: list[str] = []
    inner: Foo | None = None


def test_str_enums_lists_and_nested_models_compile(registry: Registry) -> None:
    schema = OlapTable[Paint]("paint", registry=registry).schema
    batch = schema.decode(b'[{"id": "p", "color": "red", "tags": ["a"], "inner": {"id": "f", "baz": "QUX"}}]')
    assert schema.to_objects(batch) == [Paint(id="p", color=Color.RED, tags=["a"], inner=Foo(id="f", baz=Baz.QUX))]
    with pytest.raises(ValidationError, match=r"\$\.color"):
        schema.decode(b'[{"id": "p", "color": "green"}]')


def test_annotated_columns_compile_and_integer_widths_are_checked(registry: Registry) -> None:
    table = OlapTable[Foo]("foo", registry=registry)
    assert [f.name for f in table.schema.fields] == ["id", "baz", "small", "label", "at"]
    table.schema.decode_records([{"id": "a", "baz": 2, "small": 127}])
    with pytest.raises(ValidationError, match=r"\$\.small"):
        table.schema.decode_records([{"id": "a", "baz": 2, "small": 128}])


def test_a_naive_datetime_in_a_model_is_taken_as_utc(registry: Registry) -> None:
    table = OlapTable[Foo]("foo", registry=registry)
    batch = table.schema.decode_records([Foo(id="a", baz=Baz.QUX, at=dt.datetime(2024, 1, 2, 3, 4, 5))])
    assert batch.column("at")[0].as_py() == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_ingest_is_the_legacy_name_of_ingest_api() -> None:
    with pytest.warns(DeprecationWarning, match="use `ingest_api`"):
        config = IngestPipelineConfig(ingest=False, table=True)
    assert config.ingest_api is False


def test_pipeline_getters_and_their_errors(registry: Registry) -> None:
    pipeline = IngestPipeline[Foo]("Foo", IngestPipelineConfig(table=False, stream=True, ingest_api=True,
                                                               dead_letter_queue=StreamConfig()), registry=registry)
    assert pipeline.get_stream() is pipeline.stream
    assert pipeline.get_ingest_api() is pipeline.ingest_api
    assert pipeline.get_dead_letter_queue().queue_name == "FooDeadLetterQueue"
    with pytest.raises(ValueError, match="IngestPipeline 'Foo' has no table; declare it with table=True"):
        pipeline.get_table()


def test_engines_map_to_append_or_upsert_and_others_fail_by_name(registry: Registry) -> None:
    assert OlapConfig().deduplicate is False
    assert OlapConfig(engine=ReplacingMergeTreeEngine()).deduplicate is True
    with pytest.raises(ValueError, match="engine SummingMergeTreeEngine is ClickHouse-only"):
        OlapConfig(engine=SummingMergeTreeEngine())
    with pytest.raises(ValueError, match=r"ReplacingMergeTreeEngine\(is_deleted='gone'\) requires ver"):
        ReplacingMergeTreeEngine(is_deleted="gone")
    with pytest.raises(ValueError, match=r"ttl 'cityHash64\(at\) \+ 1' is not supported on Iceberg tables; write"):
        OlapTable[Foo]("foo", {"ttl": "cityHash64(at) + 1"}, registry=registry)
    assert OlapConfig(partition_by="toYYYYMM(at)").partition_by == [("at", "month")]
    with pytest.raises(ValueError, match="partition_by 'cityHash64"):
        OlapConfig(partition_by="cityHash64(id)")
    assert OlapTable[Foo]("foo", OlapConfig(version="1.0"), registry=registry).table_name == "foo_1_0"


def test_same_version_transforms_and_consumers_are_added_once(registry: Registry) -> None:
    a = Stream[Foo]("a", registry=registry)
    b = Stream[Foo]("b", registry=registry)
    a.add_transform(b, lambda r: r)
    a.add_transform(b, lambda r: r)
    a.add_transform(b, lambda r: r, TransformConfig(version="2"))
    a.add_consumer(print)
    a.add_consumer(print)
    a.add_consumer(print, ConsumerConfig(version="2"))
    assert (len(a.transforms), len(a.consumers)) == (2, 2)


def test_dead_letter_model_reads_snake_and_camel_case() -> None:
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    camel = DeadLetterModel[Foo].model_validate({"originalRecord": {"id": "a", "baz": "QUX"}, "errorMessage": "m",
                                                 "errorType": "E", "failedAt": at, "source": "api"})
    snake = DeadLetterModel[Foo](original_record={"id": "a", "baz": 1}, error_message="m", error_type="E",
                                 failed_at=at, source="api")
    assert camel.as_typed() == snake.as_typed() == Foo(id="a", baz=Baz.QUX)
    assert camel.model_dump(by_alias=True)["originalRecord"] == {"id": "a", "baz": "QUX"}


async def test_transform_dead_letters_reach_a_typed_dlq_consumer_and_multi_transforms_route(
    registry: Registry, home: Path
) -> None:
    foo = IngestPipeline[Foo]("Foo", IngestPipelineConfig(table=False), registry=registry)
    evens = IngestPipeline[Foo]("Evens", IngestPipelineConfig(ingest_api=False), registry=registry)
    odds = IngestPipeline[Foo]("Odds", IngestPipelineConfig(ingest_api=False), registry=registry)
    typed: list[Any] = []

    def check(record: Foo) -> Foo:
        if record.id == "bad":
            raise ValueError("bad record")
        return record

    foo.get_stream().add_transform(evens.get_stream(), lambda r: None, TransformConfig(version="none"))
    foo.get_stream().add_transform(odds.get_stream(), check, TransformConfig(dead_letter_queue=odds.get_dead_letter_queue()))
    foo.get_stream().set_multi_transform(lambda r: [evens.get_stream().routed([r, r] if r.id == "two" else None)])
    odds.get_dead_letter_queue().add_consumer(lambda letter: typed.append((letter.source, letter.as_typed())))
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await rt.ingest("Foo", [{"id": "two", "baz": 1}, {"id": "bad", "baz": 2}])
        await rt.flush()
        await evens.get_stream().send(Foo(id="sent", baz=Baz.QUX))
        await rt.flush()
        assert typed == [("transform", Foo(id="bad", baz=Baz.QUUX))]
        assert sorted(rt.table("Odds").column("id").to_pylist()) == ["two"]
        assert sorted(rt.table("Evens").column("id").to_pylist()) == ["sent", "two", "two"]


async def test_insert_strategies(registry: Registry, home: Path) -> None:
    table = OlapTable[Foo]("foo", {"engine": ReplacingMergeTreeEngine()}, registry=registry)
    rows: list[Any] = [{"id": "a", "baz": 1}, {"id": "b", "baz": "x"}, {"id": "a", "baz": 2}]
    with pytest.raises(RuntimeError, match="insert\\(\\) needs a running runtime"):
        await table.insert(rows)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        with pytest.raises(ValidationError, match=r"\$\.baz"):
            await table.insert(rows)
        result = await table.insert(rows, InsertOptions(strategy="isolate"))
        assert (result.successful, result.failed, result.total) == (2, 1, 3)
        assert result.failed_records is not None
        assert result.failed_records[0].index == 1
        with pytest.raises(ValidationError):
            await table.insert(rows, InsertOptions(strategy="discard", allow_errors=0))
        assert rt.table("foo").to_pylist()[0]["baz"] == 2
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert (await table.insert([], InsertOptions(strategy="discard"))).total == 0


class Account(BaseModel):
    id: Key[str]
    name: str
    updated_at: dt.datetime
    deleted: UInt8 = 0
    seen_at: dt.datetime | None = None
    email: Annotated[str | None, ClickHouseTTL("seen_at + INTERVAL 7 DAY")] = None


def test_ver_is_deleted_and_ttl_name_fitting_fields(registry: Registry) -> None:
    def table(engine: Any = None, ttl: str | None = None) -> OlapTable[Account]:
        return OlapTable[Account]("accounts", OlapConfig(engine=engine, ttl=ttl), registry=Registry())

    accounts = table(ReplacingMergeTreeEngine(ver="updated_at", is_deleted="deleted"), "seen_at + INTERVAL 30 DAY")
    assert (accounts.config.deduplicate, accounts.config.version_column, accounts.config.deleted_column) == (
        True, "updated_at", "deleted")
    with pytest.raises(ValueError, match=r"ReplacingMergeTreeEngine\(ver=...\) names `when`, which is not a field"):
        table(ReplacingMergeTreeEngine(ver="when"))
    with pytest.raises(ValueError, match=r"ver=...\) field `name` must be an integer, date or datetime, not string"):
        table(ReplacingMergeTreeEngine(ver="name"))
    with pytest.raises(ValueError, match=r"ver=...\) field `seen_at` must not be Optional"):
        table(ReplacingMergeTreeEngine(ver="seen_at"))
    with pytest.raises(ValueError, match=r"is_deleted=...\) field `updated_at` must be an integer \(UInt8\) or bool"):
        table(ReplacingMergeTreeEngine(ver="updated_at", is_deleted="updated_at"))
    with pytest.raises(ValueError, match=r"ttl field `name` must be a date or datetime"):
        table(ttl="name + INTERVAL 1 DAY")
    assert accounts.column_ttls == {"email": "seen_at + INTERVAL 7 DAY"}

    class Keyed(BaseModel):
        id: Annotated[Key[str], ClickHouseTTL("at + INTERVAL 1 DAY")]
        at: dt.datetime

    class Nested(BaseModel):
        id: Key[str]
        at: dt.datetime
        tags: Annotated[list[str], ClickHouseTTL("at + INTERVAL 1 DAY")]

    class Bad(BaseModel):
        id: Key[str]
        at: dt.datetime
        note: Annotated[str, ClickHouseTTL("at + 1")] = ""

    with pytest.raises(ValueError, match=r"ClickHouseTTL on `id`: a key field is never cleared"):
        OlapTable[Keyed]("keyed", registry=Registry())
    with pytest.raises(ValueError, match=r"ClickHouseTTL on `tags`: make it Optional"):
        OlapTable[Nested]("nested", registry=Registry())
    with pytest.raises(ValueError, match=r"ClickHouseTTL on `note`: ttl 'at \+ 1' is not supported"):
        OlapTable[Bad]("bad", registry=Registry())


async def test_a_replacing_merge_tree_with_ver_is_deleted_and_a_ttl_runs_through_a_pipeline(
    registry: Registry, home: Path
) -> None:
    engine = ReplacingMergeTreeEngine(ver="updated_at", is_deleted="deleted")
    config = IngestPipelineConfig(table=OlapConfig(engine=engine, ttl="seen_at + INTERVAL 30 DAY DELETE"),
                                  stream=StreamConfig(parallelism=2), ingest_api=True)
    IngestPipeline[Account]("Account", config, registry=registry)
    now = dt.datetime.now(dt.UTC)

    def row(key: str, name: str, version: int, deleted: int = 0, age_days: int = 0) -> dict[str, Any]:
        return {"id": key, "name": name, "updated_at": (now + dt.timedelta(seconds=version)).isoformat(),
                "deleted": deleted, "seen_at": (now - dt.timedelta(days=age_days)).isoformat(),
                "email": f"{name}@example.com"}

    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await rt.ingest("Account", [row("a", "a1", 1), row("b", "b1", 1, age_days=10), row("c", "c1", 1),
                                    row("old", "o1", 1, age_days=40)])
        await rt.flush()
        # a: newer (wins); b: older than stored (ignored); c: deleted at version 3 (its row at
        # version 2 in the same batch is older than the delete).
        await rt.ingest("Account", [row("a", "a2", 2), row("b", "b0", 0), row("c", "c-deleted", 3, deleted=1),
                                    row("c", "c2", 2)])
        await rt.flush()
        names = {r["id"]: r["name"] for r in rt.table("Account").to_pylist()}
        assert names == {"a": "a2", "b": "b1", "old": "o1"}
        result = await rt.expire_rows("Account")
        assert (result.rows_expired, result.values_cleared) == (1, 1)  # old's row; b's email (10 days old)
        emails = {r["id"]: r["email"] for r in rt.table("Account").to_pylist()}
        assert emails == {"a": "a2@example.com", "b": None}
        # After the delete, a row of c inserts it again (no tombstone is kept).
        await rt.ingest("Account", [row("c", "c4", 4)])
        await rt.flush()
        assert sorted(rt.table("Account").column("name").to_pylist()) == ["a2", "b1", "c4"]
        properties = rt.catalog.load_table(("default", "Account")).metadata.properties
        assert (properties["cascade.upsert.version-column"], properties["cascade.ttl"],
                properties["cascade.ttl.columns"]) == ("updated_at", "seen_at 30 day", "email=seen_at 7 day")
