"""Iceberg branches: write-audit-publish for batch runs.

A batch run writes to its own branch; ``publish_branch`` then fast-forwards ``main`` to it in
one metadata commit, so readers of main see the whole run at once or not at all.
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
from pyiceberg.table.snapshots import ancestors_of

from ._scan import scan_arrow


def _check_name(branch: str) -> None:
    if not isinstance(branch, str) or not branch:
        raise ValueError(f"a branch name must be a non-empty string, got {branch!r}")


def ensure_branch(table: Table, branch: str) -> int | None:
    """Create ``branch`` from main's current snapshot unless it exists.

    Iceberg refuses a branch on a table without any snapshot (never written), so there main
    first gets an empty snapshot (no rows: readers see the same empty table) and the branch
    starts from it; it can then be written and published like any other branch.

    Returns:
        The branch head snapshot id (None only for ``main`` on a never-written table).
    """
    _check_name(branch)
    ref = table.metadata.refs.get(branch)
    if ref is not None:
        return ref.snapshot_id
    if branch == MAIN_BRANCH:
        return None
    main = table.metadata.current_snapshot_id
    if main is None:
        table.append(table.schema().as_arrow().empty_table())
        main = table.metadata.current_snapshot_id
        if main is None:  # pragma: no cover - the append above always makes a snapshot
            raise RuntimeError(f"table {'.'.join(table.name())}: could not create a first snapshot")
    table.manage_snapshots().create_branch(main, branch).commit()
    return table.metadata.refs[branch].snapshot_id


def list_branches(table: Table) -> list[str]:
    """Names of the table's branches (``main`` included once written), sorted."""
    return sorted(name for name, ref in table.metadata.refs.items() if ref.snapshot_ref_type == SnapshotRefType.BRANCH)


def publish_branch(table: Table, branch: str) -> int:
    """Fast-forward ``main`` to the head of ``branch`` (one metadata commit).

    Returns:
        The snapshot id main now points at.

    Raises:
        ValueError: the branch does not exist, or main has commits the branch lacks (not a
            fast-forward): merge or re-run the batch on a fresh branch.
    """
    _check_name(branch)
    table.refresh()
    ref = table.metadata.refs.get(branch)
    if ref is None:
        raise ValueError(f"table {'.'.join(table.name())} has no branch {branch!r} to publish")
    head = ref.snapshot_id
    main = table.metadata.current_snapshot_id
    if main == head:
        return head
    if main is not None:
        lineage = {s.snapshot_id for s in ancestors_of(table.metadata.snapshot_by_id(head), table.metadata)}
        if main not in lineage:
            raise ValueError(
                f"cannot publish branch {branch!r} of table {'.'.join(table.name())}: main moved to snapshot "
                f"{main} after the branch was created, so this is not a fast-forward"
            )
    table.manage_snapshots().set_current_snapshot(snapshot_id=head).commit()
    return head


def drop_branch(table: Table, branch: str) -> bool:
    """Remove ``branch`` (its snapshots stay until expired). Returns False when it did not exist.

    Raises:
        ValueError: for ``main``.
    """
    _check_name(branch)
    if branch == MAIN_BRANCH:
        raise ValueError("the main branch cannot be dropped")
    if branch not in table.metadata.refs:
        return False
    table.manage_snapshots().remove_branch(branch).commit()
    return True


def read_branch(table: Table, branch: str = MAIN_BRANCH) -> pa.Table:
    """All rows of ``branch`` as Arrow (an empty table when it has no snapshot)."""
    if table.metadata.refs.get(branch) is None:
        if branch != MAIN_BRANCH:
            raise ValueError(f"table {'.'.join(table.name())} has no branch {branch!r}")
        return table.schema().as_arrow().empty_table()
    return scan_arrow(table, branch)
