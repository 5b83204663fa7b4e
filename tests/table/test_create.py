from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform
from pyiceberg.types import (
    DoubleType,
    FloatType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
    TimestamptzType,
)

from cascade_rt.table import ensure_table

needs_core = pytest.mark.skipif(
    importlib.util.find_spec("pyiceberg_core") is None,
    reason="bucket/time partition transforms need pyiceberg-core (pyiceberg[pyiceberg-core])",
)


def _asset_schema() -> Schema:
    """Top-level 1..4, nested 5..7, then the batch-asset columns 100..102."""
    return Schema(
        NestedField(1, "id", StringType(), required=True),
        NestedField(2, "amount", DoubleType(), required=False),
        NestedField(
            3, "customer", StructType(NestedField(5, "name", StringType()), NestedField(6, "tier", LongType())),
            required=False,
        ),
        NestedField(4, "tags", ListType(7, StringType(), element_required=False), required=False),
        NestedField(100, "_dlt_load_id", StringType(), required=True),
        NestedField(101, "_dlt_id", StringType(), required=True),
        NestedField(102, "_cascade_ingested_at", TimestamptzType(), required=False),
        identifier_field_ids=[1],
    )


def _ids(schema: Schema) -> dict[str, int]:
    return {name: i for i, name in schema._lazy_id_to_name.items()}


def test_created_table_keeps_declared_field_ids(catalog: Catalog, home: Path) -> None:
    declared = _asset_schema()
    ensure_table(catalog, "default.orders", declared, order_by=["id"], partition_by=[("_dlt_load_id", "identity")])
    # An independent reader: a fresh catalog object, and the raw metadata JSON.
    reader = SqlCatalog("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
    table = reader.load_table("default.orders")
    assert _ids(table.schema()) == _ids(declared)
    assert _ids(table.schema())["_dlt_load_id"] == 100
    assert table.schema().identifier_field_ids == [1]
    raw = json.loads(Path(table.metadata_location.removeprefix("file://")).read_text())
    current = next(s for s in raw["schemas"] if s["schema-id"] == raw["current-schema-id"])
    assert [f["id"] for f in current["fields"]] == [1, 2, 3, 4, 100, 101, 102]
    assert raw["last-column-id"] == 102
    assert table.spec().fields[0].source_id == 100
    assert isinstance(table.spec().fields[0].transform, IdentityTransform)
    assert [f.source_id for f in table.sort_order().fields] == [1]


def test_table_with_sequential_ids_is_created_in_one_commit(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.plain", schema)
    assert len(table.schemas()) == 1
    assert table.schema() == schema


@pytest.mark.parametrize(
    ("spec", "transform"),
    [
        ("identity", IdentityTransform()),
        pytest.param("bucket[8]", BucketTransform(8), marks=needs_core),
        pytest.param("BUCKET[8]", BucketTransform(8), marks=needs_core),
    ],
)
def test_partition_by_field_and_transform(catalog: Catalog, schema: Schema, spec: str, transform: object) -> None:
    table = ensure_table(catalog, "default.parts", schema, partition_by=[("id", spec)])
    (field,) = table.spec().fields
    assert field.source_id == 1
    assert field.transform == transform


@needs_core
def test_partition_by_ready_spec_over_declared_ids(catalog: Catalog) -> None:
    spec = PartitionSpec(PartitionField(source_id=102, field_id=1000, transform=DayTransform(), name="day"))
    table = ensure_table(catalog, "default.ready", _asset_schema(), partition_by=spec)
    assert [(f.source_id, f.name) for f in table.spec().fields] == [(102, "day")]


def test_unknown_transform_is_rejected_with_the_choices(catalog: Catalog, schema: Schema) -> None:
    with pytest.raises(ValueError, match=r"unknown partition transform 'weekly' for 'id'; use identity, year"):
        ensure_table(catalog, "default.bad", schema, partition_by=[("id", "weekly")])


def test_unknown_order_by_field_is_rejected(catalog: Catalog, schema: Schema) -> None:
    with pytest.raises(ValueError, match=r"order_by names 'nope', absent from the schema"):
        ensure_table(catalog, "default.bad", schema, order_by=["nope"])


def test_new_optional_field_is_added_on_open(catalog: Catalog, schema: Schema) -> None:
    ensure_table(catalog, "default.evolve", schema)
    wider = Schema(*schema.fields, NestedField(4, "note", StringType(), required=False), identifier_field_ids=[1])
    table = ensure_table(catalog, "default.evolve", wider)
    assert table.schema().find_field("note").field_id == 4
    assert catalog.load_table("default.evolve").schema().find_field("note").required is False


def test_legal_promotion_is_applied_on_open(catalog: Catalog) -> None:
    before = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "n", IntegerType()))
    after = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "n", LongType()))
    ensure_table(catalog, "default.promote", before)
    assert ensure_table(catalog, "default.promote", after).schema().find_field("n").field_type == LongType()


def test_reopening_with_same_schema_commits_nothing(catalog: Catalog, schema: Schema) -> None:
    first = ensure_table(catalog, "default.same", schema)
    again = ensure_table(catalog, "default.same", schema)
    assert again.metadata_location == first.metadata_location


def test_type_change_that_is_no_promotion_names_table_field_and_types(catalog: Catalog) -> None:
    ensure_table(catalog, "default.t", Schema(NestedField(1, "v", DoubleType())))
    with pytest.raises(
        ValueError, match=r"table default\.t: field 'v' changed type from double to float, which is not a legal"
    ):
        ensure_table(catalog, "default.t", Schema(NestedField(1, "v", FloatType())))


def test_new_required_field_is_rejected(catalog: Catalog, schema: Schema) -> None:
    ensure_table(catalog, "default.t", schema)
    wider = Schema(*schema.fields, NestedField(4, "must", StringType(), required=True), identifier_field_ids=[1])
    with pytest.raises(ValueError, match=r"table default\.t: field 'must' is new and required"):
        ensure_table(catalog, "default.t", wider)


def test_optional_field_made_required_is_rejected(catalog: Catalog, schema: Schema) -> None:
    ensure_table(catalog, "default.t", schema)
    stricter = Schema(
        schema.fields[0], NestedField(2, "name", StringType(), required=True), schema.fields[2], identifier_field_ids=[1]
    )
    with pytest.raises(ValueError, match=r"table default\.t: field 'name' was optional and is declared required"):
        ensure_table(catalog, "default.t", stricter)


def test_nested_type_change_names_the_path(catalog: Catalog) -> None:
    declared = _asset_schema()
    ensure_table(catalog, "default.n", declared)
    changed = Schema(
        *[
            f if f.name != "customer" else NestedField(
                3, "customer", StructType(NestedField(5, "name", LongType()), NestedField(6, "tier", LongType()))
            )
            for f in declared.fields
        ],
        identifier_field_ids=[1],
    )
    with pytest.raises(ValueError, match=r"field 'customer\.name' changed type from string to long"):
        ensure_table(catalog, "default.n", changed)


def test_ensure_table_needs_a_pyiceberg_schema(catalog: Catalog) -> None:
    with pytest.raises(TypeError, match=r"ensure_table\(\) needs a pyiceberg Schema, got dict"):
        ensure_table(catalog, "default.t", {})  # type: ignore[arg-type]
