"""Snapshot expiry: a table committed to several times a second keeps a bounded history.

Every Iceberg commit adds a snapshot, and the table metadata lists them all; pyiceberg reads,
copies and rewrites that metadata on each commit, so without expiry a commit's cost grows with
every commit before it (about 20 ms at 10 snapshots, 150-300 ms at 400-800 here). The writer
therefore expires old snapshots as it goes, by Iceberg's own retention properties plus a count:

* ``history.expire.max-snapshot-age-ms``: snapshots older than this expire (Iceberg's property;
  default 5 days);
* ``cascade.history.max-snapshots``: beyond this many, the oldest expire (default 100; ``0`` or
  less keeps every snapshot the age rule keeps);
* ``history.expire.min-snapshots-to-keep``: the newest this many never expire (Iceberg's; default 1).

Branch and tag heads never expire. The manifest lists of expired snapshots are deleted with them
(each belongs to one snapshot); data and manifest files that only expired snapshots referenced stay
on disk, as Iceberg's ``expire_snapshots`` without file cleanup leaves them.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.update.snapshot import ExpireSnapshots

from ._metadata import CachedTransaction
from ._properties import int_property

__all__ = ("EXPIRE_EVERY", "MAX_SNAPSHOTS_PROPERTY", "Retention", "expirable_snapshots", "expire_snapshots", "retain",
           "retention_due")

logger = logging.getLogger("cascade_rt.table")

MAX_SNAPSHOTS_PROPERTY = "cascade.history.max-snapshots"
MAX_AGE_PROPERTY = "history.expire.max-snapshot-age-ms"
MIN_KEEP_PROPERTY = "history.expire.min-snapshots-to-keep"

DEFAULT_MAX_SNAPSHOTS = 100
DEFAULT_MAX_AGE_MS = 5 * 24 * 3600 * 1000  # Iceberg's default
DEFAULT_MIN_KEEP = 1

EXPIRE_EVERY = 100
"""Commits between expiry passes when the count limit does not call for one sooner (the age rule)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Retention:
    """How much history a table keeps (see the module docstring).

    Attributes:
        max_snapshots: keep at most this many snapshots (``<= 0``: no count limit).
        max_age_ms: expire snapshots older than this.
        min_keep: never expire the newest this many.
    """

    max_snapshots: int = DEFAULT_MAX_SNAPSHOTS
    max_age_ms: int = DEFAULT_MAX_AGE_MS
    min_keep: int = DEFAULT_MIN_KEEP

    @classmethod
    def of(cls, metadata: TableMetadata) -> Retention:
        """The retention the table's properties ask for."""
        return cls(
            int_property(metadata.properties, MAX_SNAPSHOTS_PROPERTY, DEFAULT_MAX_SNAPSHOTS),
            int_property(metadata.properties, MAX_AGE_PROPERTY, DEFAULT_MAX_AGE_MS),
            max(1, int_property(metadata.properties, MIN_KEEP_PROPERTY, DEFAULT_MIN_KEEP)),
        )

    def due(self, snapshots: int) -> bool:
        """Whether a table with this many snapshots is worth an expiry pass by count.

        A pass costs a commit, so it runs once the count is a tenth (at least 5) over the limit.
        """
        return self.max_snapshots > 0 and snapshots > self.max_snapshots + max(5, self.max_snapshots // 10)


def expirable_snapshots(metadata: TableMetadata, retention: Retention, now_ms: int) -> list[int]:
    """The ids of the snapshots ``retention`` expires, oldest first (never a branch or tag head)."""
    protected = {
        ref.snapshot_id
        for ref in metadata.refs.values()
        if ref.snapshot_ref_type in (SnapshotRefType.BRANCH, SnapshotRefType.TAG)
    }
    newest_first = sorted(metadata.snapshots, key=lambda s: (s.sequence_number or 0, s.timestamp_ms), reverse=True)
    expired = []
    for rank, snapshot in enumerate(newest_first):
        if rank < retention.min_keep or snapshot.snapshot_id in protected:
            continue
        too_many = retention.max_snapshots > 0 and rank >= retention.max_snapshots
        if too_many or now_ms - snapshot.timestamp_ms > retention.max_age_ms:
            expired.append(snapshot.snapshot_id)
    expired.reverse()
    return expired


def expire_snapshots(table: Table, retention: Retention | None = None, *, now_ms: int | None = None) -> int:
    """Expire the snapshots ``retention`` (default: the table's properties) lets go; return how many.

    One metadata commit; the expired snapshots' manifest lists are then deleted. Blocking.
    """
    metadata = table.metadata
    retention = Retention.of(metadata) if retention is None else retention
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    ids = expirable_snapshots(metadata, retention, now_ms)
    if not ids:
        return 0
    chosen = set(ids)
    manifest_lists = [s.manifest_list for s in metadata.snapshots if s.snapshot_id in chosen and s.manifest_list]
    # pyiceberg's table.maintenance.expire_snapshots() reads a plain transaction's metadata (a deep
    # copy of every snapshot) twice per expired id.
    ExpireSnapshots(transaction=CachedTransaction(table, autocommit=True)).by_ids(ids).commit()
    for path in manifest_lists:
        try:
            table.io.delete(path)
        except OSError as exc:  # a file gone already is no reason to fail the expiry
            logger.warning("table %s: could not delete manifest list %s: %s", table.name(), path, exc)
    return len(ids)


def retain(table: Table, since_expiry: int) -> int | None:
    """The writer's retention pass: expire snapshots when the count limit calls for it, or once
    ``since_expiry`` commits passed since the last pass (``EXPIRE_EVERY``, for the age rule).

    Returns:
        The number of snapshots expired, or None when no pass was due. Blocking when a pass runs.

    Raises:
        ValueError: a retention property is not an integer.
    """
    retention = retention_due(table.metadata, since_expiry)
    return None if retention is None else expire_snapshots(table, retention)


def retention_due(metadata: TableMetadata, since_expiry: int) -> Retention | None:
    """The table's retention when a pass is due (see :func:`retain`), else None. Does no I/O.

    Raises:
        ValueError: a retention property is not an integer.
    """
    retention = Retention.of(metadata)
    if not retention.due(len(metadata.snapshots)) and since_expiry < EXPIRE_EVERY:
        return None
    return retention
