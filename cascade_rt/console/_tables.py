"""A table as the console shows it, read from the catalog: schema, snapshots, files, a peek at rows.

Plain functions that read the Iceberg metadata; they do I/O, so the routes run them in a worker
thread. Files smaller than :data:`SMALL_FILE_BYTES` (or the table's
``write.target-file-size-bytes`` / 8 when smaller) count as small: compaction candidates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ("SMALL_FILE_BYTES", "table_detail", "table_summary")

SMALL_FILE_BYTES = 16 * 1024 * 1024
SNAPSHOTS = 20
FILES = 50
PEEK_ROWS = 20


def _load(catalog: Any, identifier: str) -> Any:
    namespace, _, name = identifier.partition(".")
    return catalog.load_table((namespace, name))


def _when(ms: int | None) -> str | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def _snapshot(snapshot: Any) -> dict[str, Any]:
    summary = snapshot.summary
    data = dict(summary.additional_properties) if summary is not None else {}
    operation = getattr(getattr(summary, "operation", None), "value", None)
    return {"id": snapshot.snapshot_id, "parent": snapshot.parent_snapshot_id, "at": _when(snapshot.timestamp_ms),
            "operation": operation, "summary": data}


def table_summary(catalog: Any, identifier: str) -> dict[str, Any]:
    """Rows, files and the last commit of a table, from its current snapshot's summary (cheap)."""
    table = _load(catalog, identifier)
    current = table.current_snapshot()
    summary = dict(current.summary.additional_properties) if current is not None and current.summary else {}
    return {
        "identifier": identifier,
        "rows": int(summary.get("total-records", 0) or 0) - int(summary.get("total-position-deletes", 0) or 0),
        "data_files": int(summary.get("total-data-files", 0) or 0),
        "delete_files": int(summary.get("total-delete-files", 0) or 0),
        "bytes": int(summary.get("total-files-size", 0) or 0),
        "snapshots": len(table.metadata.snapshots),
        "last_commit_at": None if current is None else _when(current.timestamp_ms),
    }


def table_detail(catalog: Any, identifier: str, *, peek: int = PEEK_ROWS) -> dict[str, Any]:
    """Schema, the newest snapshots with their summaries, files (small ones counted) and rows."""
    table = _load(catalog, identifier)
    schema = table.schema()
    keys = set(schema.identifier_field_ids)
    fields = [{"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required,
               "key": f.field_id in keys, "doc": f.doc} for f in schema.fields]
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    target = int(table.properties.get("write.target-file-size-bytes", 512 * 1024 * 1024))
    small_limit = min(SMALL_FILE_BYTES, max(1, target // 8))
    files: list[dict[str, Any]] = []
    small = total_bytes = 0
    count = 0
    if table.current_snapshot() is not None:
        listing = table.inspect.files().select(["content", "file_path", "record_count", "file_size_in_bytes"])
        for row in listing.to_pylist():
            count += 1
            size = int(row["file_size_in_bytes"])
            total_bytes += size
            is_small = size < small_limit
            small += is_small
            if len(files) < FILES:
                files.append({"content": {0: "data", 1: "position deletes", 2: "equality deletes"}.get(
                    row["content"], str(row["content"])), "path": row["file_path"].rsplit("/", 1)[-1],
                    "records": row["record_count"], "bytes": size, "small": is_small})
    rows: list[dict[str, Any]] = []
    if peek and table.current_snapshot() is not None:
        rows = table.scan(limit=peek).to_arrow().to_pylist()
    return {
        **table_summary(catalog, identifier),
        "location": table.location(),
        "schema": fields,
        "properties": dict(table.properties),
        "sort_order": str(table.sort_order()),
        "snapshot_list": [_snapshot(s) for s in snapshots[:SNAPSHOTS]],
        "files": {"count": count, "small": small, "small_limit_bytes": small_limit, "bytes": total_bytes,
                  "listed": files},
        "peek": rows,
        "refs": {name: ref.snapshot_id for name, ref in table.metadata.refs.items()},
    }
