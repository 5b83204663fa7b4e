"""Manifest merging at commit: a table committed to every second keeps a few manifests, not one per commit.

Every commit writes a manifest for the files it adds, and a scan opens every manifest of the
snapshot it reads (pyiceberg plans about 2.5 ms per manifest here, more than it spends reading a
small data file). Iceberg's Java writer therefore merges manifests when it appends
(``commit.manifest-merge.enabled``, default true), once ``commit.manifest.min-count-to-merge``
(default 100) of them fill less than ``commit.manifest.target-size-bytes`` (default 8 MB).
pyiceberg does so only when the property is set, and for data manifests only.

cascade-rt's writer merges on every commit it makes (appends, upserts, compaction), data and
delete manifests alike, by the same three properties, with two differences made for a writer that
commits every second:

* ``commit.manifest.min-count-to-merge`` defaults to ``2``: two small manifests of one size tier
  are merged at once;
* manifests are merged by size tier (a tier spans a factor of ``TIER_RATIO``, and everything below
  ``TIER_FLOOR`` bytes is one tier), so a commit rewrites the few small manifests beside its own
  and a large manifest is merged only with others of its size. A commit reads at most the
  manifests of its tier, and a snapshot keeps one or two manifests per tier, content and
  partition spec (a handful in all).

A manifest at or above the target size is never merged. Entries keep their status: files added
by this commit stay ``ADDED``, files it removes stay ``DELETED``, others become ``EXISTING`` with
their sequence numbers; ``DELETED`` entries of earlier snapshots are dropped. A manifest that this
commit wrote and then merged away is deleted at once (no snapshot references it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyiceberg.manifest import (
    ManifestContent,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriter,
    ManifestWriterV2,
    write_manifest,
)
from pyiceberg.table import Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles

from ._properties import bool_property, int_property
from ._tiers import size_tier

if TYPE_CHECKING:
    from pyiceberg.table.update.snapshot import _SnapshotProducer

__all__ = ("DeleteManifestWriterV2", "ManifestMergeSettings", "MergingAppend", "manifest_writer", "merge_manifests",
           "plan_manifest_merge")

logger = logging.getLogger("cascade_rt.table")

MERGE_ENABLED_PROPERTY = "commit.manifest-merge.enabled"
MIN_COUNT_PROPERTY = "commit.manifest.min-count-to-merge"
TARGET_SIZE_PROPERTY = "commit.manifest.target-size-bytes"
DEFAULT_MIN_COUNT = 2
DEFAULT_TARGET_SIZE = 8 * 1024 * 1024  # Iceberg's default
TIER_FLOOR = 64 * 1024
"""Manifests smaller than this are one size tier (a few hundred entries)."""
TIER_RATIO = 4


class DeleteManifestWriterV2(ManifestWriterV2):
    """pyiceberg's v2 manifest writer, writing a ``DELETES`` manifest."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def manifest_writer(producer: _SnapshotProducer[Any], metadata: TableMetadata, content: ManifestContent,
                    spec_id: int) -> ManifestWriter:
    """A writer of a new ``content`` manifest of ``producer``'s snapshot in partition spec ``spec_id``.

    Raises:
        ValueError: a delete manifest asked of a table that is not v2.
    """
    spec = metadata.specs()[spec_id]
    if content == ManifestContent.DATA:
        return write_manifest(
            format_version=metadata.format_version, spec=spec, schema=metadata.schema(),
            output_file=producer.new_manifest_output(), snapshot_id=producer._snapshot_id,
            avro_compression=producer._compression,
        )
    if metadata.format_version != 2:
        raise ValueError(f"position delete files need an Iceberg v2 table, this one is v{metadata.format_version}")
    return DeleteManifestWriterV2(spec, metadata.schema(), producer.new_manifest_output(), producer._snapshot_id,
                                  producer._compression)


@dataclass(frozen=True, slots=True)
class ManifestMergeSettings:
    """When a commit merges manifests (see the module docstring for the table properties)."""

    enabled: bool = True
    min_count: int = DEFAULT_MIN_COUNT
    target_size: int = DEFAULT_TARGET_SIZE

    @classmethod
    def of(cls, properties: Mapping[str, str]) -> ManifestMergeSettings:
        """The settings the table's properties ask for.

        Raises:
            ValueError: a property that is not a boolean or an integer, naming it.
        """
        return cls(
            bool_property(properties, MERGE_ENABLED_PROPERTY, True),
            max(2, int_property(properties, MIN_COUNT_PROPERTY, DEFAULT_MIN_COUNT)),
            max(1, int_property(properties, TARGET_SIZE_PROPERTY, DEFAULT_TARGET_SIZE)),
        )


def plan_manifest_merge(manifests: Sequence[ManifestFile], settings: ManifestMergeSettings) -> list[list[ManifestFile]]:
    """The groups of ``manifests`` to merge, each into one manifest (none when nothing is due).

    Per content and partition spec, the manifests below the target size are taken by size tier;
    a tier holding ``settings.min_count`` or more is packed, in order, into bins up to the target
    size, and every bin of two or more is a group. Does no I/O.
    """
    if not settings.enabled:
        return []
    tiers: dict[tuple[int, int, int], list[ManifestFile]] = {}
    for m in manifests:
        if m.manifest_length < settings.target_size:
            tiers.setdefault((int(m.content), m.partition_spec_id, size_tier(m.manifest_length, TIER_FLOOR, TIER_RATIO)), []).append(m)
    groups: list[list[ManifestFile]] = []
    for members in tiers.values():
        if len(members) < settings.min_count:
            continue
        bin_: list[ManifestFile] = []
        size = 0
        for m in members:
            if bin_ and size + m.manifest_length > settings.target_size:
                if len(bin_) > 1:
                    groups.append(bin_)
                bin_, size = [], 0
            bin_.append(m)
            size += m.manifest_length
        if len(bin_) > 1:
            groups.append(bin_)
    return groups


def _merge_group(producer: _SnapshotProducer[Any], metadata: TableMetadata, group: list[ManifestFile]) -> ManifestFile:
    first = group[0]
    own = producer._snapshot_id
    with manifest_writer(producer, metadata, first.content, first.partition_spec_id) as writer:
        for manifest in group:
            for entry in producer.fetch_manifest_entry(manifest=manifest, discard_deleted=False):
                if entry.snapshot_id == own and entry.status == ManifestEntryStatus.DELETED:
                    writer.delete(entry)
                elif entry.snapshot_id == own and entry.status == ManifestEntryStatus.ADDED:
                    writer.add(entry)
                elif entry.status != ManifestEntryStatus.DELETED:
                    writer.existing(entry)
    return writer.to_manifest_file()


def merge_manifests(producer: _SnapshotProducer[Any], metadata: TableMetadata,
                    manifests: list[ManifestFile], settings: ManifestMergeSettings | None = None) -> list[ManifestFile]:
    """The manifests of ``producer``'s new snapshot, with small ones merged (see the module docstring).

    ``manifests`` are the snapshot's manifests as the producer made them; ``metadata`` is the table
    metadata the producer works from. Blocking (reads the merged manifests, writes the new ones).

    Raises:
        ValueError: a merge property that is not valid, naming it.
    """
    settings = ManifestMergeSettings.of(metadata.properties) if settings is None else settings
    groups = plan_manifest_merge(manifests, settings)
    if not groups:
        return manifests
    merged_away = {m.manifest_path for g in groups for m in g}
    out = [m for m in manifests if m.manifest_path not in merged_away]
    for group in groups:
        out.append(_merge_group(producer, metadata, group))
        for m in group:
            if m.added_snapshot_id == producer._snapshot_id:  # written by this commit: nobody else has it
                try:
                    producer._io.delete(m.manifest_path)
                except OSError as exc:
                    logger.warning("could not delete merged manifest %s: %s", m.manifest_path, exc)
                else:  # not again when the commit is aborted
                    if m.manifest_path in producer._written_manifests:
                        producer._written_manifests.remove(m.manifest_path)
    return out


class MergingAppend(_FastAppendFiles):
    """pyiceberg's fast append, its manifests merged as the module docstring says."""

    def __init__(self, transaction: Transaction, metadata: TableMetadata, *, branch: str,
                 snapshot_properties: dict[str, str]) -> None:
        super().__init__(operation=Operation.APPEND, transaction=transaction, io=transaction._table.io,
                         branch=branch, snapshot_properties=snapshot_properties)
        self._merge_metadata = metadata

    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        return merge_manifests(self, self._merge_metadata, manifests)
