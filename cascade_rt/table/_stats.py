"""``table_stats``: what a table is made of (files, small files, delete files, manifests, snapshots)."""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Operation

from ._compact import CompactionSettings
from ._ttl import COLUMN_TTL_PROPERTY, TTL_PROPERTY
from ._versions import DELETED_PROPERTY, VERSION_PROPERTY

__all__ = ("TableStats", "table_stats")


@dataclass(frozen=True, slots=True)
class TableStats:
    """The live files of a branch head, and the table's history.

    Attributes:
        data_files: Live data files.
        small_data_files: Those below the compaction's small size (see ``_compact``).
        delete_files: Live position delete files.
        manifests: Manifests of the head.
        snapshots: Snapshots the metadata holds.
        data_bytes: Bytes of the live data files.
        delete_bytes: Bytes of the live delete files.
        records: Rows in the live data files (before deletes).
        last_maintenance_ms: Time of the newest ``replace`` (compaction) snapshot, epoch ms (None: never).
        ttl: The row retention (property ``cascade.ttl``, ``"<column> <n> <unit>"``), if any.
        version_column: The upsert's version column (``cascade.upsert.version-column``), if any.
        deleted_column: The upsert's deleted column (``cascade.upsert.deleted-column``), if any.
        column_ttls: The column TTLs (``cascade.ttl.columns``), if any.
    """

    data_files: int
    small_data_files: int
    delete_files: int
    manifests: int
    snapshots: int
    data_bytes: int
    delete_bytes: int
    records: int
    last_maintenance_ms: int | None
    ttl: str | None = None
    version_column: str | None = None
    deleted_column: str | None = None
    column_ttls: str | None = None


def table_stats(table: Table, *, branch: str = MAIN_BRANCH) -> TableStats:
    """The :class:`TableStats` of ``branch`` (reads its manifests). Blocking."""
    md = table.metadata
    head = md.snapshot_by_name(branch)
    replaces = [s.timestamp_ms for s in md.snapshots if s.summary is not None and s.summary.operation == Operation.REPLACE]
    last = max(replaces) if replaces else None
    owned = {"ttl": md.properties.get(TTL_PROPERTY), "version_column": md.properties.get(VERSION_PROPERTY),
             "deleted_column": md.properties.get(DELETED_PROPERTY),
             "column_ttls": md.properties.get(COLUMN_TTL_PROPERTY)}
    if head is None:
        return TableStats(0, 0, 0, 0, len(md.snapshots), 0, 0, 0, last, **owned)
    small = CompactionSettings.of(md.properties).small_size
    tasks = list(table.scan(snapshot_id=head.snapshot_id).plan_files())
    deletes = {d.file_path: d.file_size_in_bytes for t in tasks for d in t.delete_files}
    return TableStats(
        data_files=len(tasks),
        small_data_files=sum(1 for t in tasks if t.file.file_size_in_bytes < small),
        delete_files=len(deletes),
        manifests=len(head.manifests(table.io)),
        snapshots=len(md.snapshots),
        data_bytes=sum(t.file.file_size_in_bytes for t in tasks),
        delete_bytes=sum(deletes.values()),
        records=sum(t.file.record_count for t in tasks),
        last_maintenance_ms=last,
        **owned,
    )
