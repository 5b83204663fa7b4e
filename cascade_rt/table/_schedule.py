"""When a table's writer maintains its table: snapshot expiry, compaction and orphan cleanup.

The writer calls :meth:`Maintainer.after_commits` after each commit has been acknowledged, in the
place its commits run (the committer thread, or the commit process), so maintenance is
serialized with the writes and never conflicts with them. Compaction triggers are table
properties, in the spirit of Flink's table maintenance, whichever comes first:

* ``cascade.compaction.trigger.commits``: after this many commits (default 4);
* ``cascade.compaction.trigger.data-files``: once the head holds this many data files (default 100);
* ``cascade.compaction.trigger.interval-ms``: this long after the last pass, if anything was
  committed since (default 10 minutes);
* once the head holds ``cascade.compaction.max-delete-files`` delete files (default 10;
  the pass then folds all of them, see ``_compact``);

rate-limited by ``cascade.compaction.min-interval-ms`` (default 2 s) and switched off with
``cascade.compaction.enabled=false``. These passes are *tiered* (see ``_compact``): each merges
only files of about the same size, so its cost follows what it merges, not the table's size, and
a table being written keeps a few dozen files at most.

Once a table has had no commit for ``cascade.compaction.trigger.idle-ms`` (default 15 s; 0 turns
it off), one *full* pass runs: every small file of a partition, and every data file with
deletes, is merged, and the manifests are rewritten into one, so a table at rest scans like a
freshly written one. The writer's committer calls :meth:`Maintainer.after_commits` with 0 commits
when its queue has been empty for a while (an idle tick); the pass runs at most once per quiet
spell, and when there is nothing to merge it costs one read of the manifests.

Orphan cleanup runs every ``cascade.orphans.interval-ms`` (default one hour; see ``_orphans``). A
pass that fails is logged and counted, never raised: the data is committed, and the next pass
retries.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH

from ._compact import CompactionResult, compact, plan_compaction
from ._maintenance import expire_snapshots, retention_due
from ._orphans import OrphanResult, remove_orphans
from ._properties import number_property

__all__ = ("Maintainer", "MaintenanceCounters", "compaction_due", "idle_compaction_due")

logger = logging.getLogger("cascade_rt.table")

P = "cascade.compaction."
T = TypeVar("T")


def _int(properties: Mapping[str, str], name: str, default: int) -> int:
    return int(number_property(properties, name, default))


@dataclasses.dataclass(frozen=True, slots=True)
class MaintenanceCounters:
    """What a writer's maintenance did so far (per incarnation).

    Attributes:
        snapshots_expired: Snapshots expired by retention passes.
        expiry_failures: Retention passes that raised.
        compactions: Compaction passes that committed a ``replace`` snapshot.
        compaction_failures: Compaction passes that raised.
        data_files_compacted: Data files rewritten by compaction.
        delete_files_removed: Position delete files folded into rewritten data files.
        orphans_deleted: Orphan files deleted.
        orphan_failures: Orphan cleanups that raised.
        last_maintenance_ms: When the last compaction or cleanup pass ended (epoch ms; 0: never).
    """

    snapshots_expired: int = 0
    expiry_failures: int = 0
    compactions: int = 0
    compaction_failures: int = 0
    data_files_compacted: int = 0
    delete_files_removed: int = 0
    orphans_deleted: int = 0
    orphan_failures: int = 0
    last_maintenance_ms: int = 0


def compaction_due(properties: Mapping[str, str], *, commits: int, data_files: int, since_ms: float,
                   delete_files: int = 0) -> bool:
    """Whether a compaction pass is due (see the module docstring). Does no I/O.

    Args:
        properties: The table properties.
        commits: Commits since the last pass.
        data_files: Data files of the head (its summary's ``total-data-files``).
        since_ms: Milliseconds since the last pass (or since the writer started).
        delete_files: Delete files of the head (its summary's ``total-delete-files``).

    Raises:
        ValueError: a trigger property that is not an integer.
    """
    if properties.get(P + "enabled", "true").strip().lower() == "false":
        return False
    if commits == 0 or since_ms < _int(properties, P + "min-interval-ms", 2000):
        return False
    return (
        commits >= _int(properties, P + "trigger.commits", 4)
        or data_files >= _int(properties, P + "trigger.data-files", 100)
        or since_ms >= _int(properties, P + "trigger.interval-ms", 600_000)
        or delete_files >= max(1, _int(properties, P + "max-delete-files", 10))
    )


def idle_compaction_due(properties: Mapping[str, str], *, idle_ms: float) -> bool:
    """Whether the idle (full) pass is due after ``idle_ms`` milliseconds without a commit (see
    the module docstring). Does no I/O.

    Raises:
        ValueError: a trigger property that is not an integer.
    """
    if properties.get(P + "enabled", "true").strip().lower() == "false":
        return False
    after = _int(properties, P + "trigger.idle-ms", 15_000)
    return after > 0 and idle_ms >= after


class Maintainer:
    """The maintenance state of one writer incarnation (plain, blocking; one thread calls it)."""

    def __init__(self, identifier: str) -> None:
        self.identifier = identifier
        self.counters = MaintenanceCounters()
        self._since_expiry = 0
        self._since_compaction = 0
        started = time.monotonic()
        self._compacted_at = started
        self._orphans_at = started
        self._committed_at = started
        self._idle_done = False

    def after_commits(self, table: Table, commits: int) -> None:
        """Runs whatever maintenance is due after ``commits`` commits (0: an idle tick, see the
        module docstring); never raises."""
        if commits == 0:
            self._when_idle(table)
            return
        self._committed_at = time.monotonic()
        self._idle_done = False
        self._since_expiry += commits
        self._since_compaction += commits
        self._expire(table)
        now = time.monotonic()
        try:
            props = table.metadata.properties
            head = table.metadata.snapshot_by_name(MAIN_BRANCH)
            summary = head.summary if head is not None and head.summary is not None else None
            files = int(summary.get("total-data-files") or 0) if summary is not None else 0
            deletes = int(summary.get("total-delete-files") or 0) if summary is not None else 0
            due = compaction_due(props, commits=self._since_compaction, data_files=files,
                                 since_ms=(now - self._compacted_at) * 1000, delete_files=deletes)
            orphans_due = (now - self._orphans_at) * 1000 >= _int(props, "cascade.orphans.interval-ms", 3_600_000)
        except ValueError as exc:
            self._count(compaction_failures=1)
            logger.warning("table %s: maintenance skipped: %s", self.identifier, exc)
            return
        try:
            if due:
                self.compact(table, full=False)
            if orphans_due:
                self.remove_orphans(table)
        except Exception:  # logged and counted by the pass
            return

    def _when_idle(self, table: Table) -> None:
        if self._idle_done:
            return
        try:
            due = idle_compaction_due(table.metadata.properties,
                                      idle_ms=(time.monotonic() - self._committed_at) * 1000)
        except ValueError as exc:
            self._idle_done = True
            self._count(compaction_failures=1)
            logger.warning("table %s: idle compaction skipped: %s", self.identifier, exc)
            return
        if not due:
            return
        self._idle_done = True
        try:
            self.compact(table)
        except Exception:  # logged and counted by the pass
            return

    def compact(self, table: Table, *, full: bool = True) -> CompactionResult:
        """A compaction pass now, full or tiered (counted); raises what the pass raised, after
        counting it."""
        self._since_compaction = 0
        self._compacted_at = time.monotonic()
        result = self._run("compaction", lambda t: compact(t, plan_compaction(t, full=full)), table)
        if result.snapshot_id is not None:
            self._count(compactions=1, data_files_compacted=result.data_files_rewritten,
                        delete_files_removed=result.delete_files_removed)
        return result

    def remove_orphans(self, table: Table) -> OrphanResult:
        """An orphan cleanup now (counted); raises what it raised, after counting it."""
        self._orphans_at = time.monotonic()
        result = self._run("orphan", remove_orphans, table)
        self._count(orphans_deleted=result.files_deleted)
        return result

    def _run(self, kind: str, run: Callable[[Table], T], table: Table) -> T:
        try:
            result = run(table)
        except Exception as exc:
            self._count(**{f"{kind}_failures": 1})
            logger.warning("table %s: %s pass failed: %s", self.identifier, kind, exc)
            raise
        self.counters = dataclasses.replace(self.counters, last_maintenance_ms=int(time.time() * 1000))
        return result

    def _expire(self, table: Table) -> None:
        try:
            retention = retention_due(table.metadata, self._since_expiry)  # raises on a bad property
            if retention is None:
                return
            self._since_expiry = 0
            self._count(snapshots_expired=expire_snapshots(table, retention))
        except Exception as exc:
            self._count(expiry_failures=1)
            logger.warning("table %s: snapshot expiry failed: %s", self.identifier, exc)

    def _count(self, **added: int) -> None:
        c = self.counters
        self.counters = dataclasses.replace(c, **{k: getattr(c, k) + v for k, v in added.items()})

