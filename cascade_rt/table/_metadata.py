"""Table metadata updates without pyiceberg's defensive deep copies.

pyiceberg applies a commit's updates with ``update_table_metadata``, which ends by deep-copying
the whole result: every snapshot, its summary, every log entry. A group commit runs it three
times (the transaction's view, the catalog's staging, the comparison), and at a hundred
snapshots the copies are most of a commit's Python time. The metadata models are frozen and
every update builds new ones (``model_copy(update=...)``), so the copy protects nothing that
pyiceberg mutates; :func:`apply_updates` is the same function without it.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from pyiceberg.manifest import ManifestEntryStatus
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import (
    TableUpdate,
    _apply_table_update,
    _TableMetadataUpdateContext,
    _update_table_metadata_log,
)
from pyiceberg.utils.datetime import datetime_to_millis

__all__ = ("CachedTransaction", "DryRunTransaction", "apply_updates", "transaction")


def apply_updates(
    base: TableMetadata, updates: tuple[TableUpdate, ...], metadata_location: str | None = None
) -> TableMetadata:
    """``base`` with ``updates`` applied, as ``pyiceberg.table.update.update_table_metadata`` does it.

    Args:
        base: the table's current metadata.
        updates: the commit's updates, in order.
        metadata_location: the current metadata file, logged in the metadata log (a catalog commit
            passes it; a transaction's view of its staged state does not).

    Raises:
        ValueError: an update the metadata does not allow (as pyiceberg raises it).
    """
    context = _TableMetadataUpdateContext()
    metadata = base
    for update in updates:
        metadata = _apply_table_update(update, metadata, context)
    if context.has_changes():
        if metadata_location:
            metadata = _update_table_metadata_log(metadata, metadata_location, base.last_updated_ms)
        if base.last_updated_ms == metadata.last_updated_ms:
            now = datetime_to_millis(dt.datetime.now().astimezone())
            metadata = metadata.model_copy(update={"last_updated_ms": now})
    metadata.spec().check_compatible(metadata.schema())
    metadata.sort_order().check_compatible(metadata.schema())
    return metadata


class CachedTransaction(Transaction):
    """A transaction whose ``table_metadata`` is computed once per staged state.

    ``Transaction.table_metadata`` applies the staged updates to the table's metadata and
    deep-copies the result (every snapshot of the table) on each access, and an append reads it
    about twenty times: half of a group commit's Python time at a few dozen snapshots, growing with
    every commit. The metadata models are frozen, so one result per (base metadata, staged updates),
    computed without the copy (:func:`apply_updates`), serves every reader; staging an update or
    refreshing the table computes it anew.
    """

    _cached: tuple[TableMetadata, tuple[object, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        cached = self._cached
        if cached is None or cached[0] is not base or cached[1] is not updates:
            cached = self._cached = (base, updates, apply_updates(base, updates))
        return cached[2]


class DryRunTransaction(CachedTransaction):
    """A transaction that stages its updates (writing data files and manifests as a commit
    does, so it raises what that commit would raise) and then, instead of committing them,
    deletes the files its snapshots added. The table is left as it was; a file it cannot
    delete is an orphan, removed by the next orphan cleanup."""

    def commit_transaction(self) -> Table:
        io = self._table.io
        for update in self._updates:
            snapshot = getattr(update, "snapshot", None)
            if snapshot is None:
                continue
            with contextlib.suppress(Exception):  # cleanup only: the dry run itself succeeded
                paths: list[str] = []
                for manifest in snapshot.manifests(io):
                    if manifest.added_snapshot_id != snapshot.snapshot_id:
                        continue
                    paths.extend(entry.data_file.file_path for entry in manifest.fetch_manifest_entry(io)
                                 if entry.status == ManifestEntryStatus.ADDED
                                 and entry.snapshot_id == snapshot.snapshot_id)
                    paths.append(manifest.manifest_path)
                paths.append(snapshot.manifest_list)
                for path in paths:
                    io.delete(path)
        self._updates = ()
        self._requirements = ()
        return self._table


def transaction(table: Table, *, dry_run: bool = False) -> CachedTransaction:
    """A :class:`CachedTransaction` on ``table``, or a :class:`DryRunTransaction` with ``dry_run``."""
    return DryRunTransaction(table) if dry_run else CachedTransaction(table)
