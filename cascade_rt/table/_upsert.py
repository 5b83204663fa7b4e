"""Arrow-side deduplication and the Iceberg commits: append and keyed upsert.

``commit_upsert`` is a merge done in Arrow. pyiceberg's ``Table.upsert`` (and a
``delete(In(key, [...]))``) turns every key into an expression literal and evaluates row filters
in Python-built expressions, ≈ 10 k rows/s. Here the incoming keys stay an Arrow array: data files
that may hold them (pruned by the key range against file metrics) are read key-column first, the
matching live rows found with ``pyarrow.compute.is_in`` (or a hash join for composite keys), and
the replaced rows removed either with position delete files (merge-on-read) or by rewriting the
touched files (copy-on-write; see ``_merge``). The removal and the new rows are committed as one
Iceberg ``overwrite`` snapshot in one transaction: readers see all of it or none of it.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, GreaterThanOrEqual, LessThanOrEqual
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.typedef import EMPTY_DICT

from ._branches import ensure_branch
from ._deletes import (
    RowDelta,
    delete_file_name,
    read_deleted_positions,
    referenced_data_file,
    write_position_deletes,
)
from ._manifest_merge import MergingAppend
from ._merge import (
    Touched,
    find_touched,
    max_deleted_fraction,
    read_file,
    rewrite_below_bytes,
    rewrite_wanted,
    upsert_mode,
)
from ._metadata import CachedTransaction, transaction
from ._versions import check_columns, dedupe_versioned, deleted_mask, stale_mask, version_columns

_POS = "__cascade_pos"
_SPLIT_ROWS = 250_000  # below this, one file per piece: splitting costs more than it saves


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What one commit did.

    Attributes:
        snapshot_id: The branch head after the commit (None when nothing was committed).
        rows_inserted: Rows whose key was new on the branch (all rows, for an append).
        rows_updated: Rows that replaced an existing row with the same key.
        rows_written: Rows appended by the commit (after deduplication).
        rows_deleted: Stored rows removed by a winning row marked deleted (an upsert with a
            deleted column, see ``_versions``).
    """

    snapshot_id: int | None
    rows_inserted: int
    rows_updated: int
    rows_written: int
    rows_deleted: int = 0


def _as_table(data: pa.Table | pa.RecordBatch) -> pa.Table:
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return data
    raise TypeError(f"expected a pyarrow Table or RecordBatch, got {type(data).__name__}")


def same_layout(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether two Arrow types hold the same values, up to 32/64-bit offsets and field metadata.

    ``string``/``large_string``, ``binary``/``large_binary`` and ``list``/``large_list`` (with
    such children) count as the same: pyiceberg writes either as the same Iceberg type, so data
    decoded with 32-bit offsets need not be cast to the 64-bit types ``Schema.as_arrow`` names.
    """
    if a == b:
        return True
    if pa.types.is_string(a) or pa.types.is_large_string(a):
        return cast("bool", pa.types.is_string(b) or pa.types.is_large_string(b))
    if pa.types.is_binary(a) or pa.types.is_large_binary(a):
        return cast("bool", pa.types.is_binary(b) or pa.types.is_large_binary(b))
    if pa.types.is_list(a) or pa.types.is_large_list(a):
        if not (pa.types.is_list(b) or pa.types.is_large_list(b)):
            return False
        fa, fb = a.value_field, b.value_field
        return fa.nullable == fb.nullable and same_layout(fa.type, fb.type)
    if pa.types.is_struct(a) and pa.types.is_struct(b) and a.num_fields == b.num_fields:
        return all(
            fa.name == fb.name and fa.nullable == fb.nullable and same_layout(fa.type, fb.type)
            for fa, fb in zip(a, b, strict=True)
        )
    return False


def fits(schema: pa.Schema, target: pa.Schema) -> bool:
    """Whether data of ``schema`` can be appended as it is to a table of Arrow schema ``target``:
    the same columns in the same order, the same nullability, types equal up to offsets
    (:func:`same_layout`). Then :func:`conform` with ``exact=False`` does nothing."""
    if schema.names != target.names:
        return False
    return all(
        f.nullable == t.nullable and same_layout(f.type, t.type) for f, t in zip(schema, target, strict=True)
    )


def conform(
    data: pa.Table | pa.RecordBatch, table: Table, *, target: pa.Schema | None = None, exact: bool = True
) -> pa.Table:
    """Cast ``data`` to the table's Arrow schema, matching columns by name.

    Columns may come in any order; missing optional columns are filled with nulls.

    Args:
        data: The rows.
        table: The table.
        target: ``table.schema().as_arrow()`` when the caller has it cached (it costs ≈ 0.1 ms).
        exact: False keeps data that already :func:`fits` the table as it is (string columns
            stay 32-bit: pyiceberg appends them alike) instead of casting every column.

    Raises:
        ValueError: a column the table lacks, a missing required column, or nulls in a required one.
    """
    data = _as_table(data)
    if target is None:
        target = table.schema().as_arrow()
    if not exact and fits(data.schema, target):
        return data
    names = set(target.names)
    extra = [n for n in data.column_names if n not in names]
    if extra:
        raise ValueError(f"table {'.'.join(table.name())}: columns {extra} are not in the table schema")
    if data.schema.equals(target, check_metadata=False):
        return data
    arrays = []
    for field in target:
        if field.name in data.column_names:
            col = data.column(field.name)
            if not field.nullable and col.null_count:
                raise ValueError(
                    f"table {'.'.join(table.name())}: required column {field.name!r} has {col.null_count} null values"
                )
            arrays.append(col if col.type == field.type else col.cast(field.type))
        elif field.nullable:
            arrays.append(pa.nulls(data.num_rows, field.type))
        else:
            raise ValueError(f"table {'.'.join(table.name())}: required column {field.name!r} is missing")
    return pa.Table.from_arrays(arrays, schema=target)


def dedupe_last(data: pa.Table | pa.RecordBatch, keys: Sequence[str]) -> pa.Table:
    """Keep the last row of each key, in Arrow (a hash group-by, no Python loop over rows).

    The surviving rows keep their relative order.

    Raises:
        ValueError: ``keys`` empty or naming a missing column.
    """
    data = _as_table(data)
    keys = _check_keys(data.column_names, keys)
    if data.num_rows < 2 or (_int_key(data, keys) and _distinct_count(data, keys) == data.num_rows):
        return data
    idx = pa.array(np.arange(data.num_rows, dtype=np.int64))
    grouped = pa.table([*(data.column(k) for k in keys), idx], names=[*keys, _POS]).group_by(
        keys, use_threads=False
    ).aggregate([(_POS, "max")])
    if grouped.num_rows == data.num_rows:
        return data
    last = np.sort(grouped.column(f"{_POS}_max").to_numpy())
    return data.take(pa.array(last))


def _int_key(data: pa.Table, keys: Sequence[str]) -> bool:
    """One integer key column without nulls (the case numpy handles faster than Arrow's hashing)."""
    if len(keys) != 1:
        return False
    col = data.column(keys[0])
    return pa.types.is_integer(col.type) and not col.null_count


def _distinct_count(data: pa.Table, keys: Sequence[str]) -> int:
    """Number of distinct key tuples of ``data`` (a numpy sort for one integer key: ten times faster than a group-by)."""
    if _int_key(data, keys):
        ordered = np.sort(data.column(keys[0]).to_numpy())
        return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if ordered.size else 0
    return cast("int", data.group_by(list(keys), use_threads=False).aggregate([]).num_rows)


def _check_keys(columns: Sequence[str], keys: Sequence[str]) -> list[str]:
    if isinstance(keys, str):
        keys = [keys]
    keys = list(keys)
    if not keys:
        raise ValueError("keys must name at least one column")
    missing = [k for k in keys if k not in columns]
    if missing:
        raise ValueError(f"key columns {missing} are not in the data (columns: {list(columns)})")
    return keys


def is_in(left: pa.Table, right: pa.Table, keys: Sequence[str]) -> pa.ChunkedArray | pa.Array:
    """Boolean mask over ``left``'s rows: True where its key tuple occurs in ``right``."""
    if len(keys) == 1:
        k = keys[0]
        lcol, rcol = left.column(k), right.column(k)
        if pa.types.is_integer(lcol.type) and pa.types.is_integer(rcol.type) and not (lcol.null_count or rcol.null_count):
            # Dense integer keys: a lookup table over the key range beats hashing (≈ 5 ms vs
            # ≈ 30-120 ms for 1 M probes into 100 k keys).
            a, b = lcol.to_numpy(), rcol.to_numpy()
            if len(a) and len(b):
                span = int(max(a.max(), b.max())) - int(min(a.min(), b.min()))
                if span <= 8 * (len(a) + len(b)) + (1 << 20):
                    return pa.array(np.isin(a, b, kind="table"))
        return pc.is_in(lcol, value_set=rcol.combine_chunks())
    lhs = pa.table([*(left.column(k) for k in keys), pa.array(np.arange(left.num_rows))], names=[*keys, _POS])
    rhs = pa.table([right.column(k) for k in keys], names=list(keys)).group_by(list(keys)).aggregate([])
    hit = lhs.join(rhs, keys=list(keys), join_type="left semi").column(_POS).to_numpy()
    mask = np.zeros(left.num_rows, dtype=bool)
    mask[hit] = True
    return pa.array(mask)


def _key_range(data: pa.Table, keys: Sequence[str]) -> BooleanExpression:
    """A cheap file-pruning predicate: every key column within the incoming min..max."""
    expr: BooleanExpression = AlwaysTrue()
    for k in keys:
        col = data.column(k)
        if not (pa.types.is_integer(col.type) or pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
                or pa.types.is_date(col.type) or pa.types.is_timestamp(col.type)
                or pa.types.is_floating(col.type)):
            continue
        bounds = pc.min_max(col)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is None or hi is None:
            continue
        try:
            expr = And(expr, And(GreaterThanOrEqual(k, lo), LessThanOrEqual(k, hi)))  # type: ignore[call-arg, arg-type]
        except (TypeError, ValueError):  # a type pyiceberg has no literal for: no pruning on it
            continue
    return expr


def _split(data: pa.Table, parts: int) -> list[pa.Table]:
    step = -(-data.num_rows // parts)
    return [data.slice(i, step) for i in range(0, data.num_rows, step)]


def write_data_files(table: Table, metadata: TableMetadata, pieces: list[pa.Table], write_uuid: uuid.UUID) -> list[DataFile]:
    """Write ``pieces`` as Parquet data files of ``table``, in parallel threads.

    Arrow's Parquet writer compresses one file on one core, so large pieces (say the 950 k
    rows kept from a rewritten file) are split in up to one slice per core, each written
    concurrently as its own file; each piece gets files of its own. Partitioned tables are split
    by partition as usual.
    """
    counter = itertools.count(0)
    workers = max(1, os.cpu_count() or 1)
    jobs: list[pa.Table] = []
    for piece in pieces:
        if not piece.num_rows:
            continue
        parts = min(workers, max(1, piece.num_rows // _SPLIT_ROWS))
        jobs.extend(_split(piece, parts) if parts > 1 else [piece])
    if not jobs:
        return []

    def write(job: pa.Table) -> list[DataFile]:
        return list(
            _dataframe_to_data_files(table_metadata=metadata, df=job, io=table.io, write_uuid=write_uuid, counter=counter)
        )

    if len(jobs) == 1:
        return write(jobs[0])
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="cascade-write") as pool:
        return [f for files in pool.map(write, jobs) for f in files]


def _head(table: Table, branch: str) -> int | None:
    ref = table.metadata.refs.get(branch)
    return ref.snapshot_id if ref is not None else None


def _stage_append(table: Table, tx: Transaction, data: pa.Table, branch: str, properties: dict[str, str]) -> None:
    """Stage the append of ``data`` (made to fit the table by :func:`conform`) in ``tx``, its
    manifests merged (``_manifest_merge``); ``tx.append`` without its schema check (≈ 1 ms)."""
    with MergingAppend(tx, tx.table_metadata, branch=branch, snapshot_properties=properties) as append:
        for written in write_data_files(table, tx.table_metadata, [data], append.commit_uuid):
            append.append_data_file(written)


def commit_append(table: Table, data: pa.Table | pa.RecordBatch, *, branch: str = MAIN_BRANCH,
                  properties: dict[str, str] = EMPTY_DICT, dry_run: bool = False) -> CommitResult:
    """Append ``data`` (cast to the table schema) to ``branch`` in one commit.

    ``properties`` go into the snapshot's summary. A branch other than main is created from
    main's head when missing. ``dry_run`` does everything but the catalog commit (and deletes
    the files it wrote): it raises what the commit would raise, and commits nothing. Blocking.
    """
    data = conform(data, table, exact=False)
    if branch != MAIN_BRANCH:
        ensure_branch(table, branch)
    if data.num_rows == 0:
        return CommitResult(_head(table, branch), 0, 0, 0)
    # One chunk per column: pyiceberg projects every record batch to the file schema in Python
    # (≈ 0.3 ms each), and a group commit of small writes holds one batch per write.
    data = data.combine_chunks()
    with transaction(table, dry_run=dry_run) as tx:
        _stage_append(table, tx, data, branch, properties)
    return CommitResult(_head(table, branch), data.num_rows, 0, data.num_rows)


def commit_data(table: Table, data: pa.Table | pa.RecordBatch, keys: Sequence[str], *,
                branch: str = MAIN_BRANCH, properties: dict[str, str] = EMPTY_DICT,
                dry_run: bool = False) -> CommitResult:
    """Upsert ``data`` on ``keys``, or append it when ``keys`` is empty (one commit, whose summary
    gets ``properties``; none with ``dry_run``, see :func:`commit_append`). Blocking."""
    if keys:
        return commit_upsert(table, data, keys, branch=branch, properties=properties, dry_run=dry_run)
    return commit_append(table, data, branch=branch, properties=properties, dry_run=dry_run)


def commit_upsert(
    table: Table,
    data: pa.Table | pa.RecordBatch,
    keys: Sequence[str],
    *,
    branch: str = MAIN_BRANCH,
    mode: str | None = None,
    properties: dict[str, str] = EMPTY_DICT,
    dry_run: bool = False,
    version: str | None = None,
    deleted: str | None = None,
) -> CommitResult:
    """Insert or replace rows by key on ``branch``, last occurrence winning, in one commit.

    ``data`` is cast to the table schema and deduplicated on ``keys`` in Arrow; rows of the
    branch with one of those keys are removed and the new rows appended in the same snapshot
    (an ``overwrite``; an ``append`` when no key existed). Re-sending the same rows leaves each
    key exactly once. A branch other than main is created from main's head when missing. Blocking.

    Replaced rows are removed merge-on-read (position delete files, the default on v2 tables)
    or copy-on-write (touched data files rewritten), as chosen by :func:`upsert_mode` from
    ``mode`` and the table property ``write.merge.mode``; merge-on-read rewrites a data file
    once a quarter of it is deleted (``cascade.merge.max-deleted-fraction``).

    With a version column (``version``, or the table property ``cascade.upsert.version-column``)
    the row with the greatest version wins instead, the last of them on a tie, among the incoming
    rows and against the stored ones: an incoming row older than the stored row of its key is
    dropped. With a deleted column as well (``deleted`` or ``cascade.upsert.deleted-column``), a
    winning row marked deleted removes its key (see ``_versions``).

    Args:
        table: The table (its metadata is refreshed by the commit).
        data: The rows.
        keys: The key column names (one or several).
        branch: The branch to write.
        mode: ``"merge-on-read"`` or ``"copy-on-write"``; default from the table properties.
        properties: Added to the snapshot's summary.
        dry_run: Do everything but the catalog commit, then delete the files written: raises
            what the commit would raise, commits nothing.
        version: The version column (default: the table property, else none).
        deleted: The deleted column (default: the table property, else none); needs a version.

    Raises:
        ValueError: bad keys (missing, null values), a version or deleted column missing or with
            nulls, a deleted column without a version column, data that does not fit the table
            schema, an unknown mode, or merge-on-read asked of a table that is not v2.
        pyiceberg.exceptions.ValidationException: another writer moved the branch while
            merge-on-read positions were being found (nothing committed; run it again).
    """
    data = conform(data, table)
    keys = _check_keys(data.column_names, keys)
    for k in keys:
        nulls = data.column(k).null_count
        if nulls:
            raise ValueError(f"table {'.'.join(table.name())}: key column {k!r} has {nulls} null values")
    props = table.metadata.properties
    chosen = upsert_mode(props, table.metadata.format_version, mode)
    threshold = max_deleted_fraction(props)
    version, deleted = version_columns(props, version, deleted, table=f"table {'.'.join(table.name())}")
    if version is not None:
        check_columns(data, version, deleted, table=f"table {'.'.join(table.name())}")
        return _commit_versioned(table, dedupe_versioned(data, keys, version), keys, version, deleted,
                                 branch=branch, mode=chosen, threshold=threshold, properties=properties,
                                 dry_run=dry_run)
    data = dedupe_last(data, keys)
    if branch != MAIN_BRANCH:
        ensure_branch(table, branch)
    if data.num_rows == 0:
        return CommitResult(_head(table, branch), 0, 0, 0)
    if _head(table, branch) is None:
        with transaction(table, dry_run=dry_run) as tx:
            _stage_append(table, tx, data, branch, properties)
        return CommitResult(_head(table, branch), data.num_rows, 0, data.num_rows)

    incoming_keys = data.select(keys)
    with transaction(table, dry_run=dry_run) as tx:
        md = tx.table_metadata
        tasks = list(tx._scan(row_filter=_key_range(data, keys)).use_ref(branch).plan_files())
        touched, matched = find_touched(md, table.io, tasks, incoming_keys, keys, is_in)
        if not touched:
            _stage_append(table, tx, data, branch, properties)
        else:
            _commit_changes(table, tx, md, branch, data, touched, chosen, threshold, properties)
    # Each matched key is an incoming key (those are distinct after dedupe), so the number of
    # distinct matched keys is the number of rows updated, even if the table held duplicates.
    updated = _distinct_count(pa.concat_tables(matched), keys) if matched else 0
    return CommitResult(_head(table, branch), data.num_rows - updated, updated, data.num_rows)


def _commit_versioned(
    table: Table,
    data: pa.Table,
    keys: list[str],
    version: str,
    deleted: str | None,
    *,
    branch: str,
    mode: str,
    threshold: float,
    properties: dict[str, str],
    dry_run: bool = False,
) -> CommitResult:
    """The upsert of ``data`` (distinct keys, the greatest version of each) against the stored
    rows: stale rows dropped, keys whose winner is marked deleted removed (see ``_versions``)."""
    if branch != MAIN_BRANCH:
        ensure_branch(table, branch)
    if data.num_rows == 0:
        return CommitResult(_head(table, branch), 0, 0, 0)
    with transaction(table, dry_run=dry_run) as tx:
        md = tx.table_metadata
        if _head(table, branch) is None:
            touched: list[Touched] = []
            matched: list[pa.Table] = []
        else:
            tasks = list(tx._scan(row_filter=_key_range(data, keys)).use_ref(branch).plan_files())
            touched, matched = find_touched(md, table.io, tasks, data.select(keys), keys, is_in, also=[version])
        stored = pa.concat_tables(matched) if matched else None
        if stored is not None:
            stale = stale_mask(data, stored, keys, version)
            if stale.any():
                # The stored row of a stale key stays: only the keys that win replace theirs.
                data = data.filter(pa.array(~stale))
                touched, matched = _restrict(touched, matched, data.select(keys), keys)
                stored = pa.concat_tables(matched) if matched else None
        removing = deleted_mask(data, deleted) if deleted is not None else np.zeros(data.num_rows, dtype=bool)
        present = np.array(is_in(data, stored, keys), dtype=bool) if stored is not None else np.zeros(data.num_rows, bool)
        written = data.filter(pa.array(~removing)) if removing.any() else data
        if touched:
            _commit_changes(table, tx, md, branch, written, touched, mode, threshold, properties)
        elif written.num_rows:
            _stage_append(table, tx, written, branch, properties)
    updated = int(np.count_nonzero(present & ~removing))
    return CommitResult(_head(table, branch), written.num_rows - updated, updated, written.num_rows,
                        int(np.count_nonzero(present & removing)))


def _restrict(touched: list[Touched], matched: list[pa.Table], winners: pa.Table, keys: Sequence[str],
              ) -> tuple[list[Touched], list[pa.Table]]:
    """The touched files and matched rows whose key is in ``winners``."""
    kept: list[Touched] = []
    rows: list[pa.Table] = []
    for t, m in zip(touched, matched, strict=True):
        mask = np.array(is_in(m, winners, keys), dtype=bool)
        if mask.all():
            kept.append(t)
            rows.append(m)
        elif mask.any():
            kept.append(Touched(t.task, t.deleted, t.hits[mask], t.own_deletes))
            rows.append(m.filter(pa.array(mask)))
    return kept, rows


def _commit_changes(
    table: Table,
    tx: Transaction,
    md: TableMetadata,
    branch: str,
    data: pa.Table,
    touched: list[Touched],
    mode: str,
    threshold: float,
    properties: dict[str, str],
) -> None:
    """Stage the snapshot that removes the touched rows and appends ``data``."""
    rewrites: list[Touched] = []
    deletes: list[Touched] = []
    below = rewrite_below_bytes(md.properties)
    for t in touched:
        wanted = rewrite_wanted(mode, t.file.record_count, len(t.deleted), len(t.hits), threshold,
                                file_size=t.file.file_size_in_bytes, rewrite_below=below)
        (rewrites if wanted else deletes).append(t)
    kept: list[pa.Table] = []
    for t in rewrites:
        full = read_file(md, table.io, t.file)
        rest = full.filter(pa.array(t.live_mask()))
        if rest.num_rows:
            kept.append(rest)
    pieces = [p for p in (*kept, data) if p.num_rows]
    if len(pieces) > 1 and all(p.schema.equals(pieces[0].schema) for p in pieces[1:]):
        pieces = [pa.concat_tables(pieces)]  # the kept rows and the new ones in one file
    # Copy-on-write too goes through RowDelta, whose manifests are merged (pyiceberg's overwrite
    # keeps every manifest it rewrites: one more per commit).
    delta = RowDelta(tx, branch=branch, snapshot_properties=properties)
    with delta:
        for t in rewrites:
            delta.delete_data_file(t.file)
            for own in t.own_deletes:
                delta.remove_delete_file(own)
        for written in write_data_files(table, md, pieces, delta.commit_uuid):
            delta.append_data_file(written)
        provider = table.location_provider()
        for n, t in enumerate(deletes):
            location = provider.new_data_location(delete_file_name(delta.commit_uuid, n))
            delta.add_delete_file(write_position_deletes(table.io, location, t.file, t.all_deleted()))
            for own in t.own_deletes:
                delta.remove_delete_file(own)


def compact_deletes(table: Table, *, branch: str = MAIN_BRANCH, min_deleted_fraction: float = 0.0) -> int:
    """Rewrite the data files of ``branch`` that have position deletes, dropping those deletes.

    Upserts already rewrite a file once ``cascade.merge.max-deleted-fraction`` of it is deleted;
    this rewrites the rest too (every file with deletes, or those whose deleted fraction is at
    least ``min_deleted_fraction``), so scans no longer pay for applying deletes. One atomic
    commit; nothing is committed when no file qualifies. Blocking.

    Returns:
        The number of data files rewritten.

    Raises:
        ValueError: ``min_deleted_fraction`` outside [0, 1], or a branch that does not exist.
    """
    if not 0.0 <= min_deleted_fraction <= 1.0:
        raise ValueError(f"min_deleted_fraction must be in [0, 1], got {min_deleted_fraction!r}")
    if _head(table, branch) is None:
        if branch != MAIN_BRANCH:
            raise ValueError(f"table {'.'.join(table.name())} has no branch {branch!r}")
        return 0
    with CachedTransaction(table) as tx:
        md = tx.table_metadata
        chosen: list[Touched] = []
        for task in tx._scan().use_ref(branch).plan_files():
            if not task.delete_files:
                continue
            deleted = read_deleted_positions(table.io, task.delete_files, task.file.file_path)
            if deleted.size and deleted.size >= min_deleted_fraction * task.file.record_count:
                scoped = [d for d in task.delete_files if referenced_data_file(d) == task.file.file_path]
                chosen.append(Touched(task, deleted, np.empty(0, np.int64), scoped))
        if not chosen:
            return 0
        delta = RowDelta(tx, branch=branch)
        with delta:
            pieces: list[pa.Table] = []
            for t in chosen:
                delta.delete_data_file(t.file)
                for own in t.own_deletes:
                    delta.remove_delete_file(own)
                rest = read_file(md, table.io, t.file).filter(pa.array(t.live_mask()))
                if rest.num_rows:
                    pieces.append(rest)
            if pieces:
                for written in write_data_files(table, md, pieces, delta.commit_uuid):
                    delta.append_data_file(written)
    return len(chosen)
