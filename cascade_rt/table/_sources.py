"""Stream positions in a table's snapshots: what makes a table fed from a stream exactly once.

A write fed from a stream carries its *source*: ``(key, start, end)``, the stream (or Kafka
partition) it came from, as ``key``, and the offsets of its first record and of the record after
its last. Each commit writes, in its snapshot's summary, ``cascade.source.<key> = <end>`` for every
source the table has taken so far (carried forward from the snapshot before), in the same atomic
commit as the rows. On start, a writer reads them back from the current snapshot of ``main``: the
feed resumes reading from there, so a crash at any instant neither loses nor repeats a record.

The committer admits a group's writes in order against the committed positions
(:func:`admit`): a write wholly before the position was committed already (a write sent again
after a restart) and is dropped; one that starts past the position would leave a gap (an earlier
write failed) and is refused with :class:`SourceGap`, after which its feed rewinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = (
    "SOURCE_PREFIX", "Admitted", "Source", "SourceGap", "admit", "committed_positions", "positions_in",
    "source_properties",
)

SOURCE_PREFIX = "cascade.source."
Source = tuple[str, int, int]
"""``(key, first offset, offset after the last record)``."""


class SourceGap(ValueError):
    """A write would skip records of its source: ``expected`` is the committed position."""

    def __init__(self, table: str, source: Source, expected: int) -> None:
        key, start, _ = source
        super().__init__(
            f"table {table}: a write from {key} starts at offset {start} but the table has committed "
            f"up to {expected}; it was not committed (its feed rewinds to {expected})"
        )
        self.table = table
        self.source = source
        self.expected = expected


class _HasSource(Protocol):
    @property
    def source(self) -> Source | None: ...


@dataclass(slots=True)
class Admitted:
    """A group split by :func:`admit`: what to commit, what was committed already, what gaps."""

    kept: list[Any] = field(default_factory=list)
    duplicates: list[Any] = field(default_factory=list)
    gaps: list[tuple[Any, int]] = field(default_factory=list)
    advanced: dict[str, int] = field(default_factory=dict)


def admit(group: Iterable[_HasSource], positions: Mapping[str, int]) -> Admitted:
    """Split a group's writes (in queue order) against the committed ``positions``."""
    out = Admitted()
    for item in group:
        source = item.source
        if source is None:
            out.kept.append(item)
            continue
        key, start, end = source
        have = out.advanced.get(key, positions.get(key))
        if have is not None and end <= have:
            out.duplicates.append(item)
        elif have is not None and start != have:
            out.gaps.append((item, have))
        else:  # the next records, or a source the table never took (from where its feed starts)
            out.kept.append(item)
            out.advanced[key] = end
    return out


def positions_in(summary: Mapping[str, Any] | None) -> dict[str, int]:
    """The committed positions a snapshot summary holds (``cascade.source.*``)."""
    if not summary:
        return {}
    out: dict[str, int] = {}
    for name, value in summary.items():
        if name.startswith(SOURCE_PREFIX):
            try:
                out[name[len(SOURCE_PREFIX):]] = int(value)
            except (TypeError, ValueError):
                continue
    return out


def committed_positions(table: Any) -> dict[str, int]:
    """The positions committed in the current snapshot of ``table``'s main (a pyiceberg table)."""
    snapshot = table.current_snapshot()
    return positions_in(snapshot.summary.additional_properties if snapshot and snapshot.summary else None)


def source_properties(positions: Mapping[str, int]) -> dict[str, str]:
    """The summary properties that record ``positions``."""
    return {f"{SOURCE_PREFIX}{key}": str(end) for key, end in positions.items()}
