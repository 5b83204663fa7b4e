"""apply_updates: pyiceberg's update_table_metadata without the deep copy, same results."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table.update import SetPropertiesUpdate, update_table_metadata

from cascade_rt.table import commit_append, conform, ensure_table
from cascade_rt.table._metadata import apply_updates


def test_staged_updates_apply_as_pyiceberg_applies_them(
    catalog: Catalog, schema: Schema, rows: Callable[..., pa.Table]
) -> None:
    table = ensure_table(catalog, "default.t", schema)
    commit_append(table, rows([1]))
    tx = table.transaction()
    tx.append(conform(rows([2]), table, exact=False))
    tx.set_properties({"owner": "me"})
    updates = tx._updates
    location = table.metadata_location
    want = update_table_metadata(table.metadata, updates, metadata_location=location)
    got = apply_updates(table.metadata, updates, metadata_location=location)
    assert got == want.model_copy(update={"last_updated_ms": got.last_updated_ms})
    assert len(got.snapshots) == 2
    assert got.properties["owner"] == "me"
    assert got.metadata_log[-1].metadata_file == location
    assert len(apply_updates(table.metadata, updates).metadata_log) == len(table.metadata.metadata_log)


def test_the_base_metadata_is_left_as_it_was(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    before = table.metadata.model_dump()
    apply_updates(table.metadata, (SetPropertiesUpdate(updates={"a": "1"}),))
    assert table.metadata.model_dump() == before


def test_an_update_the_metadata_forbids_raises_as_in_pyiceberg(catalog: Catalog, schema: Schema) -> None:
    from pyiceberg.table.update import SetCurrentSchemaUpdate

    table = ensure_table(catalog, "default.t", schema)
    update = SetCurrentSchemaUpdate(schema_id=7)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="Schema with id 7 does not exist"):
        apply_updates(table.metadata, (update,))
