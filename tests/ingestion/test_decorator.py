"""``@cascade_ingestion`` declarations: parameters, defaults, schema generation, mistakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from pandera.pandas import DataFrameModel, Field
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from cascade_rt._registry import default_registry
from cascade_rt.ingestion import AssetDefinitionError, IngestionAsset, cascade_ingestion


class Raw(DataFrameModel):
    id: str = Field(nullable=False, unique=True, description="Unique identifier")
    created_at: datetime = Field(nullable=False)
    status: str | None = Field(nullable=True)


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        default_registry().unregister("asset", name)


def test_decorated_function_becomes_a_registered_asset_with_seed_defaults(cleanup: list[str]) -> None:
    @cascade_ingestion(table_name="my_table", unique_key="id", validation_schema=Raw, group="my_domain")
    def decl_defaults(partition_date: str) -> list[dict[str, str]]:
        """Ingest my data."""
        return [{"id": partition_date}]

    cleanup.append("decl_defaults")
    assert isinstance(decl_defaults, IngestionAsset)
    assert default_registry().get("asset", "decl_defaults") is decl_defaults
    assert decl_defaults("2024-01-01") == [{"id": "2024-01-01"}]
    assert (decl_defaults.identifier, decl_defaults.group, decl_defaults.description) == (
        "raw.my_table",
        "my_domain",
        "Ingest my data.",
    )
    assert (decl_defaults.cron, decl_defaults.freshness_hours, decl_defaults.partition_spec) == (
        None,
        None,
        None,
    )
    assert (
        decl_defaults.max_runtime_seconds,
        decl_defaults.max_retries,
        decl_defaults.retry_delay_seconds,
    ) == (300, 3, 30)
    assert decl_defaults.validate is True
    assert [(f.field_id, f.name) for f in decl_defaults.iceberg_schema.fields] == [
        (1, "id"),
        (2, "created_at"),
        (3, "status"),
        (100, "_dlt_load_id"),
        (101, "_dlt_id"),
        (102, "_cascade_ingested_at"),
    ]
    assert decl_defaults.arrow_schema.names == ["id", "created_at", "status"]


def test_table_is_accepted_for_table_name_and_namespace_is_configurable(cleanup: list[str]) -> None:
    @cascade_ingestion(
        table="glucose_entries",
        unique_key="id",
        validation_schema=Raw,
        namespace="bronze",
        cron="0 */1 * * *",
        freshness_hours=(1, 24),
    )
    def decl_table(partition_date: str) -> None:
        return None

    cleanup.append("decl_table")
    assert decl_table.identifier == "bronze.glucose_entries"
    assert (decl_table.cron, decl_table.freshness_hours) == ("0 */1 * * *", (1.0, 24.0))


def test_iceberg_schema_wins_over_validation_schema(cleanup: list[str]) -> None:
    explicit = Schema(
        NestedField(1, "id", StringType(), required=True), NestedField(2, "n", LongType(), required=False)
    )

    @cascade_ingestion(table_name="t", unique_key="id", validation_schema=Raw, iceberg_schema=explicit)
    def decl_explicit(partition_date: str) -> None:
        return None

    cleanup.append("decl_explicit")
    assert [f.name for f in decl_explicit.iceberg_schema.fields] == [
        "id",
        "n",
        "_dlt_load_id",
        "_dlt_id",
        "_cascade_ingested_at",
    ]
    assert [f.field_id for f in decl_explicit.iceberg_schema.fields][-3:] == [100, 101, 102]
    assert decl_explicit.arrow_schema.names == ["id", "n"]
    assert decl_explicit.validate is True


def test_iceberg_schema_alone_turns_validation_off(cleanup: list[str]) -> None:
    explicit = Schema(NestedField(1, "id", StringType(), required=True))

    @cascade_ingestion(table_name="t2", unique_key="id", iceberg_schema=explicit)
    def decl_iceberg_only(partition_date: str) -> None:
        return None

    cleanup.append("decl_iceberg_only")
    assert decl_iceberg_only.validate is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "every hour"}, "asset 'bad': cron 'every hour' is not a valid cron expression"),
        (
            {"unique_key": "uuid"},
            "asset 'bad': unique_key 'uuid' is not a field of Raw \\(fields: id, created_at, status\\)",
        ),
        (
            {"validation_schema": None},
            "asset 'bad': one of validation_schema .* or iceberg_schema .* is required",
        ),
        ({"table_name": None}, "asset 'bad': table_name is required"),
        ({"unique_key": None}, "asset 'bad': unique_key is required"),
        (
            {"freshness_hours": (24, 1)},
            "asset 'bad': freshness_hours must be \\(warn_hours, fail_hours\\) with 0 < warn <= fail",
        ),
        ({"max_retries": -1}, "asset 'bad': max_retries must be a non-negative int, got -1"),
        (
            {"partition_spec": [("nope", "day")]},
            "asset 'bad': partition_by names 'nope', absent from the schema",
        ),
    ],
)
def test_declaration_mistakes_fail_naming_the_asset(kwargs: dict[str, object], message: str) -> None:
    params: dict[str, object] = {"table_name": "t", "unique_key": "id", "validation_schema": Raw, **kwargs}
    with pytest.raises(AssetDefinitionError, match=message) as info:

        @cascade_ingestion(**params)  # type: ignore[arg-type]
        def bad(partition_date: str) -> None:
            return None

    assert info.value.asset == "bad"
    assert default_registry().get("asset", "bad") is None


def test_a_second_asset_with_a_taken_name_is_refused(cleanup: list[str]) -> None:
    @cascade_ingestion(table_name="a", unique_key="id", validation_schema=Raw)
    def decl_twice(partition_date: str) -> None:
        return None

    cleanup.append("decl_twice")
    with pytest.raises(ValueError, match="asset named 'decl_twice' is already defined"):

        @cascade_ingestion(table_name="b", unique_key="id", validation_schema=Raw, name="decl_twice")
        def other(partition_date: str) -> None:
            return None
