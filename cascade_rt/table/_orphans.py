"""Orphan cleanup: files under a table's location that no retained snapshot references.

Compaction removes data and delete files from the branch heads, and snapshot expiry drops the
snapshots that still used them; the files themselves stay on disk until this pass deletes them.
A file is deleted when it is under the table's ``data/`` or ``metadata/`` directory, is not
referenced by the table metadata (the current and logged metadata files, statistics files, the
manifest list, manifests and live data and delete files of every snapshot the metadata still
holds, which includes every branch and tag head), and was last modified longer than the grace
period ago (``cascade.orphans.grace-period-ms``, default one hour), so that a file a commit is
writing right now is never taken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pyarrow import fs as pafs
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata

from ._properties import number_property

__all__ = ("GRACE_PROPERTY", "OrphanResult", "grace_period_ms", "list_table_files", "referenced_files",
           "remove_orphans")

logger = logging.getLogger("cascade_rt.table")

GRACE_PROPERTY = "cascade.orphans.grace-period-ms"
DEFAULT_GRACE_MS = 3600 * 1000


def grace_period_ms(metadata: TableMetadata) -> int:
    """The table's grace period for orphan files, in milliseconds.

    Raises:
        ValueError: a property that is not a non-negative integer.
    """
    return int(number_property(metadata.properties, GRACE_PROPERTY, DEFAULT_GRACE_MS))


def _normal(path: str) -> str:
    """``path`` with ``file:`` URIs spelled one way (``file:///x`` and ``file:/x`` are the same file)."""
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    return path


def referenced_files(table: Table) -> set[str]:
    """Every file the table metadata references, through any snapshot it holds (normalised paths).

    Reads each manifest list and each distinct manifest once. Blocking.
    """
    md = table.metadata
    io = table.io
    found: set[str] = {_normal(table.metadata_location)} if table.metadata_location else set()
    found.update(_normal(entry.metadata_file) for entry in md.metadata_log)
    found.update(_normal(s.statistics_path) for s in md.statistics)
    found.update(_normal(s.statistics_path) for s in md.partition_statistics)
    manifests_seen: set[str] = set()
    for snapshot in md.snapshots:
        if snapshot.manifest_list:
            found.add(_normal(snapshot.manifest_list))
        for manifest in snapshot.manifests(io):
            path = _normal(manifest.manifest_path)
            found.add(path)
            if path in manifests_seen:
                continue
            manifests_seen.add(path)
            for entry in manifest.fetch_manifest_entry(io=io, discard_deleted=True):
                found.add(_normal(entry.data_file.file_path))
    return found


def _filesystem(io: FileIO, location: str) -> tuple[pafs.FileSystem, str]:
    if isinstance(io, PyArrowFileIO):
        scheme, netloc, path = PyArrowFileIO.parse_location(location)
        return io.fs_by_scheme(scheme, netloc), path
    filesystem, path = pafs.FileSystem.from_uri(location)
    return filesystem, str(path)


def list_table_files(table: Table) -> Iterator[tuple[str, int, int]]:
    """``(path, size, modified_ms)`` of every file under the table's ``data/`` and ``metadata/``.

    Paths are spelled as :func:`referenced_files` spells them. Blocking.
    """
    location = table.location().rstrip("/")
    filesystem, root = _filesystem(table.io, location)
    prefix = location[: len(location) - len(root)] if location.endswith(root) else ""
    for sub in ("data", "metadata"):
        selector = pafs.FileSelector(f"{root}/{sub}", recursive=True, allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            modified = int(info.mtime.timestamp() * 1000) if info.mtime is not None else 0
            yield _normal(prefix + info.path), info.size or 0, modified


@dataclass(frozen=True, slots=True)
class OrphanResult:
    """What one orphan cleanup did.

    Attributes:
        files_deleted: Orphan files deleted.
        bytes_deleted: Their size.
        files_too_young: Unreferenced files left for now (within the grace period).
        failures: Orphan files that could not be deleted (logged).
    """

    files_deleted: int = 0
    bytes_deleted: int = 0
    files_too_young: int = 0
    failures: int = 0


def remove_orphans(table: Table, *, grace_ms: int | None = None, now_ms: int | None = None,
                   dry_run: bool = False) -> OrphanResult:
    """Delete the table's orphan files older than the grace period (default: the table's property).

    Run it where no other commit is under way (the writer runs it in its commit queue); the grace
    period covers commits of other processes. Blocking.

    Raises:
        ValueError: a bad grace period property.
    """
    grace = grace_period_ms(table.metadata) if grace_ms is None else grace_ms
    now = int(time.time() * 1000) if now_ms is None else now_ms
    referenced = referenced_files(table)
    deleted = size = young = failures = 0
    scheme_prefix = "file://" if table.location().startswith("file:") else ""
    for path, nbytes, modified in list_table_files(table):
        if path in referenced:
            continue
        if now - modified < grace:
            young += 1
            continue
        if dry_run:
            deleted += 1
            size += nbytes
            continue
        try:
            table.io.delete(scheme_prefix + path if scheme_prefix else path)
        except OSError as exc:
            failures += 1
            logger.warning("table %s: could not delete orphan file %s: %s", ".".join(table.name()), path, exc)
            continue
        deleted += 1
        size += nbytes
    return OrphanResult(deleted, size, young, failures)
