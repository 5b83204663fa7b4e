"""``@cascade_ingestion``: declare a batch asset over a dlt source and register it.

Everything a run needs is checked and compiled here, once, at declaration: the cron expression
is parsed, the key is looked up in the schema, and the Iceberg and Arrow schemas are generated
from the Pandera model (or taken from an explicit pyiceberg ``Schema``), so a mistake fails the
import of the app with an error naming the asset, not the first run at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from croniter import croniter
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType, TimestamptzType

from .._registry import default_registry
from ._errors import AssetDefinitionError

METADATA_FIELDS = ("_dlt_load_id", "_dlt_id", "_cascade_ingested_at")
"""Columns every batch-asset row carries (Iceberg field ids 100, 101, 102)."""


@dataclass(frozen=True, eq=False)
class IngestionAsset:
    """A declared batch asset: the function plus everything a run needs.

    Calling it calls the function (``asset("2024-01-01")`` returns the dlt source).

    Attributes:
        name: The asset name (the function's name).
        fn: The decorated function, ``fn(partition_date: str)``.
        table_name: The Iceberg table name without namespace.
        namespace: The Iceberg namespace (``raw`` unless given).
        unique_key: The merge key column.
        group: The asset group.
        validation_schema: The Pandera ``DataFrameModel`` (None when only ``iceberg_schema`` was given).
        iceberg_schema: The table schema, metadata fields (ids 100-102) included.
        arrow_schema: The Arrow schema of the data columns (metadata excluded).
        partition_spec: The partition spec passed to the table (``[(field, transform)]`` or a ``PartitionSpec``).
        cron: The schedule, or None.
        freshness_hours: ``(warn_hours, fail_hours)`` or None.
        max_runtime_seconds, max_retries, retry_delay_seconds, validate: Run policy.
    """

    name: str
    fn: Callable[[str], Any]
    table_name: str
    namespace: str
    unique_key: str
    group: str
    validation_schema: Any
    iceberg_schema: Schema
    arrow_schema: pa.Schema
    partition_spec: Any = None
    cron: str | None = None
    freshness_hours: tuple[float, float] | None = None
    max_runtime_seconds: float = 300
    max_retries: int = 3
    retry_delay_seconds: float = 30
    validate: bool = True
    description: str = field(default="")

    @property
    def identifier(self) -> str:
        """``namespace.table_name``."""
        return f"{self.namespace}.{self.table_name}"

    def __call__(self, partition_date: str) -> Any:
        return self.fn(partition_date)


def cascade_ingestion(
    table_name: str | None = None,
    unique_key: str | None = None,
    validation_schema: Any = None,
    group: str | None = None,
    iceberg_schema: Schema | None = None,
    partition_spec: Any = None,
    cron: str | None = None,
    freshness_hours: tuple[float, float] | None = None,
    max_runtime_seconds: float = 300,
    max_retries: int = 3,
    retry_delay_seconds: float = 30,
    validate: bool = True,
    *,
    table: str | None = None,
    namespace: str = "raw",
    name: str | None = None,
) -> Callable[[Callable[[str], Any]], IngestionAsset]:
    """Declare a batch asset: ``fn(partition_date)`` returns a dlt source/resource or rows.

    The decorated function becomes an :class:`IngestionAsset`, registered in the default
    registry under its name (``kind="asset"``). See the package docstring for what a run does.

    Args:
        table_name: The Iceberg table (without namespace). ``table`` is accepted as a synonym.
        unique_key: The merge key; must be a field of the schema.
        validation_schema: A Pandera ``DataFrameModel``: the Iceberg schema is generated from it.
        group: The asset group (``default`` when omitted).
        iceberg_schema: An explicit pyiceberg ``Schema``; wins over generation when both are given.
        partition_spec: ``[(field, transform), ...]`` or a pyiceberg ``PartitionSpec``.
        cron: A cron expression (5 fields) for the scheduler.
        freshness_hours: ``(warn_hours, fail_hours)`` since the last successful run.
        max_runtime_seconds: A run is cancelled past this.
        max_retries: Retries after a failed attempt.
        retry_delay_seconds: Delay between attempts.
        validate: Run the Pandera validation (False skips it).
        table: Synonym of ``table_name``.
        namespace: The Iceberg namespace.
        name: The asset name (default: the function name).

    Raises:
        AssetDefinitionError: (a ``ValueError``) naming the asset and the parameter at fault.
    """

    def decorate(fn: Callable[[str], Any]) -> IngestionAsset:
        if not callable(fn):
            raise TypeError(f"@cascade_ingestion decorates a function taking partition_date, got {fn!r}")
        asset_name = name or getattr(fn, "__name__", None) or repr(fn)
        asset = _build(
            asset_name,
            fn,
            table_name=table_name,
            table=table,
            unique_key=unique_key,
            validation_schema=validation_schema,
            group=group,
            iceberg_schema=iceberg_schema,
            partition_spec=partition_spec,
            cron=cron,
            freshness_hours=freshness_hours,
            max_runtime_seconds=max_runtime_seconds,
            max_retries=max_retries,
            retry_delay_seconds=retry_delay_seconds,
            validate=validate,
            namespace=namespace,
        )
        default_registry().register("asset", asset_name, asset)
        return asset

    return decorate


def _build(name: str, fn: Callable[[str], Any], **p: Any) -> IngestionAsset:
    def fail(parameter: str, message: str) -> AssetDefinitionError:
        return AssetDefinitionError(message, asset=name, parameter=parameter)

    table_name = p["table_name"] or p["table"]
    if p["table_name"] and p["table"] and p["table_name"] != p["table"]:
        raise fail(
            "table_name", f"table_name={p['table_name']!r} and table={p['table']!r} disagree; give one"
        )
    if not table_name or not isinstance(table_name, str):
        raise fail("table_name", "table_name is required (the Iceberg table name, e.g. table_name='events')")
    if "." in table_name:
        raise fail(
            "table_name", f"table_name {table_name!r} must not contain '.'; use namespace= for the namespace"
        )
    key = p["unique_key"]
    if not key or not isinstance(key, str):
        raise fail("unique_key", "unique_key is required (the column to merge and deduplicate on)")
    if p["validation_schema"] is None and p["iceberg_schema"] is None:
        raise fail(
            "validation_schema",
            "one of validation_schema (a Pandera DataFrameModel) or iceberg_schema (a pyiceberg Schema) is required",
        )
    cron = p["cron"]
    if cron is not None:
        if not isinstance(cron, str) or not croniter.is_valid(cron):
            raise fail("cron", f"cron {cron!r} is not a valid cron expression (e.g. '0 */1 * * *')")
    fresh = p["freshness_hours"]
    if fresh is not None:
        ok = (
            isinstance(fresh, tuple | list)
            and len(fresh) == 2
            and all(isinstance(h, int | float) for h in fresh)
        )
        if not ok or not 0 < fresh[0] <= fresh[1]:
            raise fail(
                "freshness_hours",
                f"freshness_hours must be (warn_hours, fail_hours) with 0 < warn <= fail, got {fresh!r}",
            )
        fresh = (float(fresh[0]), float(fresh[1]))
    for param in ("max_runtime_seconds", "retry_delay_seconds"):
        if not isinstance(p[param], int | float) or p[param] < 0:
            raise fail(param, f"{param} must be a non-negative number, got {p[param]!r}")
    if p["max_runtime_seconds"] == 0:
        raise fail("max_runtime_seconds", "max_runtime_seconds must be positive")
    if not isinstance(p["max_retries"], int) or p["max_retries"] < 0:
        raise fail("max_retries", f"max_retries must be a non-negative int, got {p['max_retries']!r}")
    if p["validate"] and p["validation_schema"] is None:
        validate = False  # nothing to validate with: only an Iceberg schema was given
    else:
        validate = bool(p["validate"])

    if p["iceberg_schema"] is not None:
        ice, arrow = _from_iceberg(fail, p["iceberg_schema"], key)
    else:
        ice, arrow = _from_pandera(fail, p["validation_schema"], key)
    if p["partition_spec"] is not None:
        from ..table import parse_partition_by

        try:
            parse_partition_by(ice, p["partition_spec"])
        except (TypeError, ValueError) as exc:
            raise fail("partition_spec", str(exc)) from None
    asset = IngestionAsset(
        name=name,
        fn=fn,
        table_name=table_name,
        namespace=p["namespace"],
        unique_key=key,
        group=p["group"] or "default",
        validation_schema=p["validation_schema"],
        iceberg_schema=ice,
        arrow_schema=arrow,
        partition_spec=p["partition_spec"],
        cron=cron,
        freshness_hours=fresh,
        max_runtime_seconds=float(p["max_runtime_seconds"]),
        max_retries=p["max_retries"],
        retry_delay_seconds=float(p["retry_delay_seconds"]),
        validate=validate,
        description=(getattr(fn, "__doc__", None) or "").strip().split("\n")[0],
    )
    # The registry and error messages locate a definition by its module: the app's, not ours.
    object.__setattr__(asset, "__module__", getattr(fn, "__module__", __name__))
    object.__setattr__(asset, "__doc__", getattr(fn, "__doc__", None))
    return asset


def _from_pandera(fail: Callable[[str, str], Exception], model: Any, key: str) -> tuple[Schema, pa.Schema]:
    to_schema = getattr(model, "to_schema", None)
    if not callable(to_schema):
        raise fail(
            "validation_schema", f"validation_schema must be a Pandera DataFrameModel class, got {model!r}"
        )
    columns = list(to_schema().columns)
    if key not in columns:
        raise fail(
            "unique_key",
            f"unique_key {key!r} is not a field of {getattr(model, '__name__', model)} (fields: {', '.join(columns)})",
        )
    from ..schema import RecordSchema

    try:
        record = RecordSchema.of(model, key=key)
    except (TypeError, ValueError) as exc:
        raise fail("validation_schema", str(exc)) from None
    return record.iceberg_schema(metadata=True), record.arrow_schema


def _from_iceberg(fail: Callable[[str, str], Exception], schema: Any, key: str) -> tuple[Schema, pa.Schema]:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    if not isinstance(schema, Schema):
        raise fail(
            "iceberg_schema", f"iceberg_schema must be a pyiceberg Schema, got {type(schema).__name__}"
        )
    names = [f.name for f in schema.fields]
    if key not in names:
        raise fail(
            "unique_key",
            f"unique_key {key!r} is not a field of the iceberg_schema (fields: {', '.join(names)})",
        )
    data_fields = [f for f in schema.fields if f.name not in METADATA_FIELDS]
    extra = [
        NestedField(100, "_dlt_load_id", StringType(), required=True, doc="dlt load identifier"),
        NestedField(101, "_dlt_id", StringType(), required=True, doc="dlt record identifier"),
        NestedField(
            102, "_cascade_ingested_at", TimestamptzType(), required=False, doc="cascade ingestion time"
        ),
    ]
    key_id = schema.find_field(key).field_id
    full = Schema(*data_fields, *extra, identifier_field_ids=[key_id])
    arrow = schema_to_pyarrow(Schema(*data_fields), include_field_ids=False)
    return full, arrow
