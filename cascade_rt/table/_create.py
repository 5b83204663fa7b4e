"""Create an Iceberg table from a declared schema, or evolve an existing one to it.

pyiceberg's ``create_table`` renumbers field ids (1, 2, 3... in pre-order), which would break
the ids cascade-rt declares (``_dlt_load_id`` is 100, for instance). :func:`ensure_table`
therefore creates the table, then, in one follow-up transaction, installs the declared schema
with its own ids and builds the partition spec and sort order against it (pinned by
``test_created_table_keeps_declared_field_ids``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping, Sequence

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema, promote
from pyiceberg.table import Table
from pyiceberg.table.update import AddSchemaUpdate, AssertCurrentSchemaId, SetCurrentSchemaUpdate
from pyiceberg.transforms import (
    BucketTransform,
    IdentityTransform,
    TimeTransform,
    Transform,
    UnknownTransform,
    parse_transform,
)
from pyiceberg.types import IcebergType, ListType, MapType, NestedField, StructType

from ._catalog import ensure_namespace

PartitionBy = Sequence[tuple[str, str]] | PartitionSpec | None
"""``[(field, transform), ...]`` with transforms ``identity``, ``year``, ``month``, ``day``,
``hour``, ``bucket[N]``, ``truncate[N]``; or a ready ``PartitionSpec`` over the declared ids."""


TABLE_PROPERTIES = {
    "format-version": "2",
    # zstd at level 1: group commits write Parquet on the ingest path; level 1 costs about a third
    # less CPU than pyiceberg's default level here, for files of about the same size.
    "write.parquet.compression-codec": "zstd",
    "write.parquet.compression-level": "1",
    # Group commits add a manifest each: merge them (Iceberg's default, off in pyiceberg) so a
    # commit's manifest list stays short, and drop metadata files past the last 100.
    "commit.manifest-merge.enabled": "true",
    "write.metadata.delete-after-commit.enabled": "true",
}
"""Properties of every table cascade-rt creates (v2, for merge-on-read deletes)."""


def parse_partition_by(schema: Schema, partition_by: PartitionBy) -> list[tuple[str, Transform[object, object], str]]:
    """Normalise ``partition_by`` to ``(source field name, transform, partition field name)``.

    Raises:
        ValueError: a field the schema lacks, or a transform that is not one of the supported ones.
    """
    if partition_by is None:
        return []
    out: list[tuple[str, Transform[object, object], str]] = []
    if isinstance(partition_by, PartitionSpec):
        for pf in partition_by.fields:
            name = schema.find_column_name(pf.source_id)
            if name is None:
                raise ValueError(f"partition field {pf.name!r} refers to field id {pf.source_id}, absent from the schema")
            _check_engine(name, str(pf.transform), pf.transform)
            out.append((name, pf.transform, pf.name))
        return out
    for item in partition_by:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"partition_by takes (field, transform) pairs such as ('timestamp', 'day'), got {item!r}")
        field, spec = item
        _check_fields(schema, [field], "partition_by")
        transform = parse_transform(spec.strip().lower()) if isinstance(spec, str) else spec
        if isinstance(transform, UnknownTransform):
            raise ValueError(
                f"unknown partition transform {spec!r} for {field!r}; use identity, year, month, day, hour, "
                "bucket[N] or truncate[N]"
            )
        _check_engine(field, spec, transform)
        suffix = "" if isinstance(transform, IdentityTransform) else "_" + str(transform).split("[")[0]
        out.append((field, transform, f"{field}{suffix}"))
    return out


def _check_engine(field: str, spec: object, transform: Transform[object, object]) -> None:
    # pyiceberg computes bucket and time partitions of Arrow data with the Rust extension
    # pyiceberg-core; without it the first write would fail, so fail at declaration instead.
    if isinstance(transform, (BucketTransform, TimeTransform)) and importlib.util.find_spec("pyiceberg_core") is None:
        raise ImportError(
            f"partitioning {field!r} by {spec!r} needs pyiceberg-core to write: "
            "pip install 'pyiceberg[pyiceberg-core]'"
        )


def _check_fields(schema: Schema, names: Iterable[str], what: str) -> None:
    for name in names:
        try:
            schema.find_field(name)
        except ValueError:
            raise ValueError(f"{what} names {name!r}, absent from the schema") from None


def ensure_table(
    catalog: Catalog,
    identifier: str | tuple[str, ...],
    schema: Schema,
    *,
    partition_by: PartitionBy = None,
    order_by: Sequence[str] = (),
    properties: Mapping[str, str | None] | None = None,
) -> Table:
    """Open the table ``identifier``, creating it from ``schema`` when missing.

    On create the table is Iceberg format v2 (upserts write position delete files, see
    ``commit_upsert``) and keeps the schema's own field ids and identifier fields; ``order_by``
    names become its sort order (ascending) and ``partition_by`` its partition spec. On open,
    the declared schema is reconciled with the table's: new optional fields are added and
    legal type promotions (int→long, float→double, wider decimals) and required→optional
    relaxations applied; fields only in the table are left as they are.

    Args:
        catalog: The catalog (see ``open_catalog``); the namespace is created if missing.
        identifier: ``"namespace.table"`` or a tuple.
        schema: The declared pyiceberg schema.
        partition_by: See :data:`PartitionBy`. Used on create only.
        order_by: Field names for the sort order. Used on create only.
        properties: Table properties the declaration owns, on create and on open: a value is set,
            ``None`` removes the property (one commit, only when something differs).

    Returns:
        The loaded table (current after any evolution).

    Raises:
        ValueError: an incompatible change (a type change that is not a promotion, a required
            field added, an optional field made required), naming table, field and change; or
            ``partition_by``/``order_by`` naming an unknown field or transform.
    """
    if not isinstance(schema, Schema):
        raise TypeError(f"ensure_table() needs a pyiceberg Schema, got {type(schema).__name__}")
    parts = parse_partition_by(schema, partition_by)
    _check_fields(schema, order_by, "order_by")
    namespace = Catalog.namespace_from(identifier)
    ensure_namespace(catalog, namespace)
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        try:
            table = catalog.create_table(identifier, schema, properties=TABLE_PROPERTIES)
        except TableAlreadyExistsError:
            table = catalog.load_table(identifier)
        else:
            return set_properties(_finish_create(table, schema, parts, order_by), properties or {})
    return set_properties(evolve_schema(table, schema), properties or {})


def set_properties(table: Table, properties: Mapping[str, str | None]) -> Table:
    """Set the properties given a value and remove those given ``None``, in one commit (none when
    the table already has them so)."""
    have = table.metadata.properties
    updates = {k: v for k, v in properties.items() if v is not None and have.get(k) != v}
    removals = [k for k, v in properties.items() if v is None and k in have]
    if updates or removals:
        with table.transaction() as tx:
            if updates:
                tx.set_properties(updates)
            if removals:
                tx.remove_properties(*removals)
    return table


def _finish_create(
    table: Table,
    schema: Schema,
    parts: list[tuple[str, Transform[object, object], str]],
    order_by: Sequence[str],
) -> Table:
    """Install the declared ids, the partition spec and the sort order in one commit."""
    same_ids = _ids(table.schema()) == _ids(schema) and (
        table.schema().identifier_field_ids == schema.identifier_field_ids
    )
    if same_ids and not parts and not order_by:
        return table
    with table.transaction() as tx:
        if not same_ids:
            declared = Schema(
                *schema.fields,
                schema_id=max(table.schemas()) + 1,
                identifier_field_ids=schema.identifier_field_ids,
            )
            tx._apply(
                (AddSchemaUpdate(schema=declared), SetCurrentSchemaUpdate(schema_id=-1)),  # type: ignore[call-arg]
                (AssertCurrentSchemaId(current_schema_id=table.schema().schema_id),),  # type: ignore[call-arg]
            )
        if parts:
            with tx.update_spec() as spec:
                for source, transform, name in parts:
                    spec.add_field(source, transform, name)
        if order_by:
            with tx.update_sort_order() as order:
                for name in order_by:
                    order.asc(name, IdentityTransform())
    return table


def _ids(schema: Schema) -> dict[str, int]:
    return {name: fid for fid, name in schema._lazy_id_to_name.items()}


def schema_changes(table_name: str, current: Schema, declared: Schema) -> bool:
    """Compare a table's schema with the declared one.

    Returns:
        True when the declared schema adds fields, promotes types or relaxes requiredness.

    Raises:
        ValueError: on an incompatible change, naming the table, the field path and the change.
    """
    return _compare_struct(table_name, "", current.as_struct(), declared.as_struct())


def _compare_struct(table_name: str, prefix: str, current: StructType, declared: StructType) -> bool:
    changed = False
    have = {f.name: f for f in current.fields}
    for field in declared.fields:
        path = f"{prefix}{field.name}"
        old = have.get(field.name)
        if old is None:
            if field.required:
                raise ValueError(
                    f"table {table_name}: field {path!r} is new and required; a new field must be optional "
                    "(existing rows have no value for it)"
                )
            changed = True
            continue
        if field.required and not old.required:
            raise ValueError(
                f"table {table_name}: field {path!r} was optional and is declared required; "
                "existing rows may hold nulls, keep it optional"
            )
        if not field.required and old.required:
            changed = True
        changed = _compare_type(table_name, path, old, field) or changed
    return changed


def _compare_type(table_name: str, path: str, old: NestedField, new: NestedField) -> bool:
    a, b = old.field_type, new.field_type
    if a == b:
        return False
    if isinstance(a, StructType) and isinstance(b, StructType):
        return _compare_struct(table_name, path + ".", a, b)
    if isinstance(a, ListType) and isinstance(b, ListType):
        return _compare_type(table_name, path + ".element", a.element_field, b.element_field)
    if isinstance(a, MapType) and isinstance(b, MapType):
        return _compare_type(table_name, path + ".key", a.key_field, b.key_field) | _compare_type(
            table_name, path + ".value", a.value_field, b.value_field
        )
    if not _promotable(a, b):
        raise ValueError(
            f"table {table_name}: field {path!r} changed type from {a} to {b}, which is not a legal "
            "Iceberg promotion (int→long, float→double, wider decimal); write to a new table or field"
        )
    return True


def _promotable(a: IcebergType, b: IcebergType) -> bool:
    if not (a.is_primitive and b.is_primitive):
        return False
    try:
        return promote(a, b) == b
    except Exception:
        return False


def evolve_schema(table: Table, declared: Schema) -> Table:
    """Bring ``table``'s schema up to ``declared`` (see :func:`ensure_table`); no-op when equal.

    Raises:
        ValueError: an incompatible change, from :func:`schema_changes`.
    """
    name = ".".join(table.name())
    if schema_changes(name, table.schema(), declared):
        with table.update_schema() as update:
            update.union_by_name(declared)
    return table
