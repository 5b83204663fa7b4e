"""Compaction: fewer, larger data files, and delete files folded into them, in one ``replace`` snapshot.

A table committed to many times a second gains a small data file (and a manifest) per commit, and
an upserted one a position delete file per touched data file; a scan pays for each file it opens.
:func:`plan_compaction` chooses, from a branch head, what to rewrite, per partition. A data file
is *small* below ``SMALL_FRACTION`` of ``write.target-file-size-bytes`` (Iceberg's property,
default 512 MB; Iceberg's ``min-file-size-bytes``); larger files are never rewritten for their
size. Two kinds of pass:

* **tiered** (the passes the writer's triggers start while data comes in): small files are
  grouped by size tier and a tier is merged once it holds ``cascade.compaction.min-input-files``
  files (default 5; Iceberg's ``min-input-files``). Every file below
  ``cascade.compaction.tier-floor-bytes`` (default 4 MiB) is in the first tier, so the small
  files of a table written every second are merged into one as they come, and a scan opens a
  handful of files; above the floor a tier spans a factor of ``TIER_RATIO`` in size, and a file
  made by merging lands a tier or two up and is merged again only with files of its own size. So
  a pass costs at most the floor plus what the files it merges cost, not the whole table: a row
  is rewritten about ``log(rows) / log(TIER_RATIO)`` times once past the floor, and a partition
  keeps at most ``min-input-files - 1`` files per tier (a few dozen at most);
* **full** (``compact()``, ``cascade-rt table compact``, and the writer's idle pass): every small
  file of a partition and every data file with position deletes is merged into files near the
  target, and the manifests are rewritten when there are more than one per partition spec and
  content. What stays is one file per partition (per target size) and one manifest.

Both rewrite data files with position deletes when their deleted fraction reaches
``cascade.compaction.delete-fraction`` (default 0.1), or every one of them once the branch holds
``cascade.compaction.max-delete-files`` delete files (default 10); and both rewrite the
manifests into one per partition spec and content once there are more than
``cascade.compaction.max-manifests`` (default 50).

A pass takes at most ``cascade.compaction.max-files-per-pass`` files (default 200) and
``cascade.compaction.max-bytes-per-pass`` bytes (default: the target file size), so that its cost
is bounded.

:func:`compact` reads the chosen files with their deletes applied, sorts the rows by the table's
sort order (its identity fields), writes them as files near the target size (pyiceberg's writer
splits by target size and partition) and commits one Iceberg ``replace`` snapshot: the rewritten
data files and their file-scoped delete files out, the new files in. Readers and time travel see
the same rows at every snapshot. The summary properties of the previous head whose keys start
with ``cascade.`` are carried forward unchanged (a writer resumes from positions kept there).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import (
    DataFile,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
)
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Operation, Snapshot
from pyiceberg.table.sorting import SortDirection
from pyiceberg.transforms import IdentityTransform

from ._deletes import RowDelta, referenced_data_file
from ._metadata import CachedTransaction
from ._properties import number_property
from ._tiers import size_tier
from ._upsert import write_data_files

__all__ = ("CompactionPlan", "CompactionResult", "CompactionSettings", "carried_properties", "compact",
           "plan_compaction")

TARGET_SIZE_PROPERTY = "write.target-file-size-bytes"
DEFAULT_TARGET_SIZE = 512 * 1024 * 1024  # Iceberg's default
SMALL_FRACTION = 0.75
"""A data file below this fraction of the target size is small."""
TIER_RATIO = 4
"""A size tier of a tiered pass spans this factor in file size (above the floor)."""
DEFAULT_TIER_FLOOR = 4 * 1024 * 1024
"""Data files below this size are one tier."""
CARRIED_PREFIX = "cascade."
"""Snapshot summary properties with this prefix are carried into a compaction snapshot."""


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """What a compaction pass rewrites (see the module docstring for the table properties)."""

    target_size: int = DEFAULT_TARGET_SIZE
    min_input_files: int = 5
    delete_fraction: float = 0.1
    max_delete_files: int = 10
    max_manifests: int = 50
    max_files_per_pass: int = 200
    max_bytes_per_pass: int = DEFAULT_TARGET_SIZE
    tier_floor: int = DEFAULT_TIER_FLOOR

    @classmethod
    def of(cls, properties: Mapping[str, str]) -> CompactionSettings:
        """The settings the table's properties ask for.

        Raises:
            ValueError: a property that is not a non-negative number.
        """
        target = int(number_property(properties, TARGET_SIZE_PROPERTY, DEFAULT_TARGET_SIZE))
        p, d = "cascade.compaction.", cls()
        return cls(
            target_size=max(1, target),
            min_input_files=max(2, int(number_property(properties, p + "min-input-files", d.min_input_files))),
            delete_fraction=float(number_property(properties, p + "delete-fraction", d.delete_fraction, float)),
            max_delete_files=int(number_property(properties, p + "max-delete-files", d.max_delete_files)),
            max_manifests=int(number_property(properties, p + "max-manifests", d.max_manifests)),
            max_files_per_pass=max(2, int(number_property(properties, p + "max-files-per-pass", d.max_files_per_pass))),
            max_bytes_per_pass=int(number_property(properties, p + "max-bytes-per-pass", target)),
            tier_floor=int(number_property(properties, p + "tier-floor-bytes", d.tier_floor)),
        )

    @property
    def small_size(self) -> int:
        return int(self.target_size * SMALL_FRACTION)


@dataclass(frozen=True, slots=True)
class CompactionPlan:
    """What one pass rewrites on ``branch``, planned from the head ``snapshot_id``.

    Attributes:
        branch: The branch.
        snapshot_id: The head the plan was made from (None: an empty branch).
        groups: Scan tasks (a data file and its delete files) to rewrite together, one group per partition.
        rewrite_manifests: Whether the manifests are rewritten too.
        data_files: Live data files on the branch when planned.
        delete_files: Live delete files on the branch when planned.
        manifests: Manifests of the head when planned.
    """

    branch: str
    snapshot_id: int | None
    groups: tuple[tuple[FileScanTask, ...], ...] = ()
    rewrite_manifests: bool = False
    data_files: int = 0
    delete_files: int = 0
    manifests: int = 0

    @property
    def empty(self) -> bool:
        """Nothing to do."""
        return not self.groups and not self.rewrite_manifests

    @property
    def files(self) -> int:
        """Data files to rewrite."""
        return sum(len(g) for g in self.groups)


@dataclass(frozen=True, slots=True)
class CompactionResult:
    """What one pass did (all zero when nothing was due).

    Attributes:
        snapshot_id: The ``replace`` snapshot committed (None when nothing was committed).
        data_files_rewritten: Data files removed.
        data_files_added: Data files written.
        delete_files_removed: Position delete files removed with their data files.
        manifests_before: Manifests of the head before the pass.
        manifests_after: Manifests of the head after it.
        rows: Live rows rewritten.
        seconds: Wall time of the pass.
    """

    snapshot_id: int | None = None
    data_files_rewritten: int = 0
    data_files_added: int = 0
    delete_files_removed: int = 0
    manifests_before: int = 0
    manifests_after: int = 0
    rows: int = 0
    seconds: float = 0.0


def _head(metadata: TableMetadata, branch: str) -> Snapshot | None:
    return metadata.snapshot_by_name(branch)


def _deleted_rows(task: FileScanTask) -> int:
    """Rows of the task's data file its delete files name (an upper bound for shared delete files)."""
    return min(task.file.record_count, sum(d.record_count for d in task.delete_files))


def _groups_of(members: list[FileScanTask], settings: CompactionSettings, *, full: bool,
               fold_all: bool) -> list[list[FileScanTask]]:
    """The groups one partition's files make (see the module docstring), cheapest first."""
    small = settings.small_size
    groups: list[list[FileScanTask]] = []
    if full:
        chosen = [t for t in members if t.delete_files or t.file.file_size_in_bytes < small]
        chosen.sort(key=lambda t: t.file.file_size_in_bytes)
        if len(chosen) > 1 or (chosen and chosen[0].delete_files):
            groups.append(chosen)
        return groups
    tiers: dict[int, tuple[list[FileScanTask], list[FileScanTask]]] = {}
    for t in members:
        folded = bool(t.delete_files) and (
            fold_all or _deleted_rows(t) >= settings.delete_fraction * max(1, t.file.record_count))
        if folded or t.file.file_size_in_bytes < small:
            forced, merged = tiers.setdefault(size_tier(t.file.file_size_in_bytes, settings.tier_floor, TIER_RATIO), ([], []))
            (forced if folded else merged).append(t)
    for _, (forced, merged) in sorted(tiers.items()):
        if forced or len(merged) >= settings.min_input_files:
            groups.append(sorted([*forced, *merged], key=lambda t: t.file.file_size_in_bytes))
    return groups


def plan_compaction(table: Table, *, branch: str = MAIN_BRANCH, settings: CompactionSettings | None = None,
                    full: bool = True) -> CompactionPlan:
    """Choose what a compaction pass rewrites on ``branch`` (reads the head's manifests): a full
    pass, or with ``full=False`` a tiered one (see the module docstring). Blocking.

    Raises:
        ValueError: a compaction property that is not a non-negative number.
    """
    metadata = table.metadata
    settings = CompactionSettings.of(metadata.properties) if settings is None else settings
    head = _head(metadata, branch)
    if head is None:
        return CompactionPlan(branch, None)
    manifests = head.manifests(table.io)
    tasks = list(table.scan(snapshot_id=head.snapshot_id).plan_files())
    delete_paths = {d.file_path for t in tasks for d in t.delete_files}
    fold_all = len(delete_paths) >= settings.max_delete_files
    by_partition: dict[tuple[int, object], list[FileScanTask]] = {}
    for task in tasks:
        by_partition.setdefault((task.file.spec_id, task.file.partition), []).append(task)
    candidates = [g for members in by_partition.values()
                  for g in _groups_of(members, settings, full=full, fold_all=fold_all)]
    candidates.sort(key=lambda g: sum(t.file.file_size_in_bytes for t in g))
    groups: list[tuple[FileScanTask, ...]] = []
    files_left, bytes_left = settings.max_files_per_pass, settings.max_bytes_per_pass
    for candidate in candidates:
        group: list[FileScanTask] = []
        for task in candidate:
            size = task.file.file_size_in_bytes
            if files_left <= 0 or (group and size > bytes_left):
                break
            group.append(task)
            files_left -= 1
            bytes_left -= size
        # One file without deletes rewritten alone gains nothing.
        if len(group) > 1 or (group and group[0].delete_files):
            groups.append(tuple(group))
        else:
            files_left += len(group)
            bytes_left += sum(t.file.file_size_in_bytes for t in group)
        if files_left <= 0 or bytes_left <= 0:
            break
    kinds = {(m.content, m.partition_spec_id) for m in manifests}
    rewrite_manifests = len(manifests) > settings.max_manifests or (full and len(manifests) > len(kinds))
    return CompactionPlan(
        branch, head.snapshot_id, tuple(groups), rewrite_manifests=rewrite_manifests,
        data_files=len(tasks), delete_files=len(delete_paths), manifests=len(manifests),
    )


def carried_properties(snapshot: Snapshot | None) -> dict[str, str]:
    """The summary properties of ``snapshot`` a compaction snapshot carries forward (``cascade.*``)."""
    if snapshot is None or snapshot.summary is None:
        return {}
    return {k: v for k, v in snapshot.summary.additional_properties.items() if k.startswith(CARRIED_PREFIX)}


def _sorted(metadata: TableMetadata, rows: pa.Table) -> pa.Table:
    """``rows`` in the table's sort order (its identity fields; other transforms are left out)."""
    order = metadata.sort_order()
    schema = metadata.schema()
    keys = []
    for f in order.fields:
        if not isinstance(f.transform, IdentityTransform):
            continue
        name = schema.find_column_name(f.source_id)
        if name is None or "." in name:
            continue
        keys.append((name, "ascending" if f.direction == SortDirection.ASC else "descending"))
    if not keys or rows.num_rows < 2:
        return rows
    return rows.sort_by(keys)


class _Rewrite(RowDelta):
    """The ``replace`` snapshot of a pass: :class:`RowDelta`, with the manifests optionally
    rewritten, together with the pass's new files, into one per partition spec and content."""

    def __init__(self, *args: object, rewrite_manifests: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rewrite_manifests = rewrite_manifests

    def _manifests(self) -> list[ManifestFile]:
        if not self._rewrite_manifests:
            return super()._manifests()
        # The pass adds data files only: they go into the rewritten data manifests.
        return [*self._added(self._added_delete_files, ManifestContent.DELETES), *self._existing_manifests()]

    def _existing_manifests(self) -> list[ManifestFile]:
        # A manifest left with nothing but this pass's DELETED entries is dropped now rather than
        # at the next commit: a scan opens every manifest of the head, and a pass empties many.
        kept = []
        for m in super()._existing_manifests():
            if m.added_snapshot_id != self._snapshot_id or m.has_added_files() or m.has_existing_files():
                kept.append(m)
            else:  # written by this pass, referenced by nothing
                self._io.delete(m.manifest_path)
        if not self._rewrite_manifests:
            return kept
        entries: dict[tuple[ManifestContent, int], list[ManifestEntry]] = {}
        default_spec = self._metadata.default_spec_id
        for f in self._added_data_files:
            entries.setdefault((ManifestContent.DATA, getattr(f, "_spec_id", default_spec)), []).append(
                ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id,
                                        sequence_number=None, file_sequence_number=None, data_file=f))
        for manifest in kept:
            for entry in manifest.fetch_manifest_entry(io=self._io, discard_deleted=False):
                if entry.status == ManifestEntryStatus.DELETED and entry.snapshot_id != self._snapshot_id:
                    continue  # removed by an earlier snapshot: not carried
                entries.setdefault((manifest.content, manifest.partition_spec_id), []).append(entry)
            if manifest.added_snapshot_id == self._snapshot_id:  # rewritten by this pass: merged here
                self._io.delete(manifest.manifest_path)
        out = []
        for (content, spec_id), group in entries.items():
            with self._writer(content, spec_id) as writer:
                for entry in group:
                    if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == self._snapshot_id:
                        writer.add(entry)
                    elif entry.status == ManifestEntryStatus.DELETED:
                        writer.delete(entry)
                    else:
                        writer.existing(entry)
            out.append(writer.to_manifest_file())
        return out


def compact(table: Table, plan: CompactionPlan | None = None, *, branch: str = MAIN_BRANCH) -> CompactionResult:
    """Run a compaction pass: ``plan`` (default: a full pass, :func:`plan_compaction` now) in one
    ``replace`` snapshot. Nothing is committed when the plan is empty. Blocking.

    Raises:
        ValueError: the branch moved since ``plan`` was made (plan again), or a bad property.
    """
    began = time.perf_counter()
    plan = plan_compaction(table, branch=branch) if plan is None else plan
    if plan.empty:
        return CompactionResult(manifests_before=plan.manifests, manifests_after=plan.manifests,
                                seconds=time.perf_counter() - began)
    head = _head(table.metadata, plan.branch)
    if head is None or head.snapshot_id != plan.snapshot_id:
        raise ValueError(f"table {'.'.join(table.name())}: branch {plan.branch!r} moved since the compaction "
                         "was planned; plan it again")
    removed_deletes: set[str] = set()
    added: list[DataFile] = []
    rows = 0
    with CachedTransaction(table) as tx:
        md = tx.table_metadata
        rewrite = _Rewrite(tx, branch=plan.branch, operation=Operation.REPLACE,
                           snapshot_properties=carried_properties(head), rewrite_manifests=plan.rewrite_manifests)
        with rewrite:
            pieces: list[pa.Table] = []
            for group in plan.groups:
                live = ArrowScan(md, table.io, md.schema(), AlwaysTrue()).to_table(tasks=list(group))
                rows += live.num_rows
                if live.num_rows:
                    pieces.append(_sorted(md, live))
                for task in group:
                    rewrite.delete_data_file(task.file)
                    for d in task.delete_files:
                        # A delete file naming only this data file goes with it; one shared with
                        # files kept stays (it applies to older sequence numbers only).
                        if referenced_data_file(d) == task.file.file_path and d.file_path not in removed_deletes:
                            removed_deletes.add(d.file_path)
                            rewrite.remove_delete_file(d)
            # One call for all pieces: the file names share one counter (one call per piece would
            # give the pieces' files the same names, each overwriting the one before).
            for written in write_data_files(table, md, pieces, rewrite.commit_uuid) if pieces else []:
                rewrite.append_data_file(written)
                added.append(written)
    after = _head(table.metadata, plan.branch)
    manifests_after = len(after.manifests(table.io)) if after is not None else 0
    return CompactionResult(
        snapshot_id=after.snapshot_id if after is not None else None,
        data_files_rewritten=plan.files, data_files_added=len(added), delete_files_removed=len(removed_deletes),
        manifests_before=plan.manifests, manifests_after=manifests_after, rows=rows,
        seconds=time.perf_counter() - began,
    )
