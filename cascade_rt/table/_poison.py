"""Poison records: the rows that make a group commit fail, found so that the others commit.

A group commit can fail because of a value it carries: a string column's statistics that cannot
be encoded, a value Arrow cannot convert. Failing the whole group for it fails every write in
it, and the same rows fail the next incarnation's commit again: one poison record stops the
table. :func:`is_data_error` tells such a failure from one that is not about the rows (the disk,
the catalog), which keeps failing the commit. For a data error, :func:`set_aside` finds the
offending rows by bisection over *dry runs*: each trial commits nothing (``dry_run=True`` runs
the whole commit but the catalog's, see ``_metadata.DryRunTransaction``), so the rows that
remain are then committed for real once, in one commit per branch, and every other row exactly
once. The writer sends the rows set aside to its dead-letter target (see ``_committer``).

The search, for the rows ``R`` of one branch whose commit failed:

1. A *control*: one neutral row (nulls, zeros, empty strings) is tried alone. If it fails too,
   the failure is not about the rows, and the commit fails as any other.
2. ``R`` is split in halves (by writes, then by rows within one write) and each half is tried;
   a half that fails is split again, down to single rows. A set that fails while both of its
   halves pass fails only as a whole; it is set aside whole.
3. The rows left are tried together: some failures depend on more than one row (a string's
   statistics depend on the largest value of its file), so the search repeats on what is left
   until it passes, at most ``MAX_ROUNDS`` times.

For a single poison row, the column is found the same way, by blanking halves of its columns.

What it costs: a few dozen dry runs (log2 of the writes, then of the rows, twice, plus the
control, the column and the final check), each a commit without the catalog's part; a dry run
that passes deletes its files, one that fails leaves them to the orphan cleanup, as a failed
commit does. Limits: the verdict goes by the error's kind, so an Arrow error raised while an
upsert reads one of the table's own files (a corrupt file) counts as about the data, and the
rows whose keys lead to that file are the ones set aside; and rows that fail only together are
set aside together.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ("DATA_ERROR_ATTRIBUTE", "MAX_ROUNDS", "Poison", "Probe", "is_data_error", "mark_data_error",
           "neutral_row", "set_aside")

DATA_ERROR_ATTRIBUTE = "cascade_data_error"
"""The attribute a commit process sets on an exception it sends back: its :func:`is_data_error`."""
MAX_ROUNDS = 100
"""Searches over the rows left before the failure counts as not isolable (and fails the commit)."""

_DATA_ERRORS: tuple[type[BaseException], ...] = (
    UnicodeError, ValueError, TypeError, OverflowError,
    pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError,
)
_NOT_DATA: tuple[type[BaseException], ...] = (OSError, MemoryError)
_NOT_DATA_MODULES = ("sqlalchemy", "sqlite3", "pyiceberg", "pydantic")

Probe = Callable[[list[pa.Table]], BaseException | None]
"""Dry-runs the commit of some rows: the data error it raises, or None; raises any other error."""


def is_data_error(error: BaseException) -> bool:
    """Whether a commit that raised ``error`` failed because of the rows it held.

    About the data: ``UnicodeError``, ``ValueError``, ``TypeError``, ``OverflowError`` and
    pyarrow's ``ArrowInvalid``, ``ArrowTypeError`` and ``ArrowNotImplementedError``, as building
    a commit's files and statistics raises them. Not about the data, whatever else they
    subclass: ``OSError`` (the disk; pyarrow's ``ArrowIOError`` is one) and ``MemoryError``; the
    exceptions of SQLAlchemy and sqlite3 (the catalog), of pyiceberg (``CommitFailedException``,
    ``ValidationException``: the table's state) and of pydantic (its metadata models); an error
    raised from one of those (``raise ... from``); cancellation and any other ``BaseException``;
    anything else.

    An exception that came back from a commit process carries the verdict the process gave it
    there, where its cause was still attached (``DATA_ERROR_ATTRIBUTE``, see
    :func:`mark_data_error`): that verdict stands, including for an error that did not pickle
    and came back as a ``RuntimeError`` holding its text.
    """
    verdict = getattr(error, DATA_ERROR_ATTRIBUTE, None)
    if isinstance(verdict, bool):
        return verdict
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, Exception) or isinstance(current, _NOT_DATA):
            return False
        if type(current).__module__.split(".")[0] in _NOT_DATA_MODULES:
            return False
        current = current.__cause__
    return isinstance(error, _DATA_ERRORS)


def mark_data_error(error: BaseException, verdict: bool | None = None) -> BaseException:
    """Sets ``DATA_ERROR_ATTRIBUTE`` on ``error`` (to ``verdict``, default its
    :func:`is_data_error`), so the verdict survives pickling; returns ``error``."""
    try:
        setattr(error, DATA_ERROR_ATTRIBUTE, is_data_error(error) if verdict is None else verdict)
    except (AttributeError, TypeError):  # an exception type without a __dict__: judged again by its type
        pass
    return error


@dataclass(frozen=True, slots=True)
class Poison:
    """Rows of one write that were set aside.

    Attributes:
        write: The write's index in the group (in the tables given to :func:`set_aside`).
        rows: The rows' indices in that write.
        data: The rows themselves.
        error: The error a commit holding them raised.
        column: The column whose value made it fail, when one row was found alone and blanking
            one column let it pass; else None.
    """

    write: int
    rows: tuple[int, ...]
    data: pa.Table
    error: BaseException
    column: str | None = None

    def message(self, table: str) -> str:
        """Why the rows were set aside, naming ``table`` (and the column, when known)."""
        where = f"table {table}" + (f", column {self.column!r}" if self.column is not None else "")
        return (f"{where}: a commit failed because of this record; it was left out and the rest committed "
                f"({type(self.error).__name__}: {self.error})")


Piece = tuple[int, int, int]
"""``(write, first row, rows)``: a slice of one write."""


def _tables(tables: Sequence[pa.Table], pieces: Sequence[Piece]) -> list[pa.Table]:
    return [tables[w].slice(start, n) for w, start, n in pieces]


def _halves(pieces: list[Piece]) -> tuple[list[Piece], list[Piece]]:
    if len(pieces) > 1:
        middle = len(pieces) // 2
        return pieces[:middle], pieces[middle:]
    w, start, n = pieces[0]
    half = n // 2
    return [(w, start, half)], [(w, start + half, n - half)]


def _search(tables: Sequence[pa.Table], pieces: list[Piece], error: BaseException, probe: Probe,
            found: list[tuple[list[Piece], BaseException]]) -> None:
    """Adds to ``found`` the smallest failing sets within ``pieces`` (which fail with ``error``)."""
    if sum(n for _, _, n in pieces) <= 1:
        found.append((pieces, error))
        return
    before = len(found)
    for half in _halves(pieces):
        failed = probe(_tables(tables, half))
        if failed is not None:
            _search(tables, half, failed, probe, found)
    if len(found) == before:  # each half passes alone: the rows fail only together
        found.append((pieces, error))


def _neutral(field: pa.Field, n: int) -> pa.Array | None:
    """``n`` values of ``field`` that no data error is about: nulls, zeros, empty strings."""
    kind = field.type
    if field.nullable:
        return pa.nulls(n, kind)
    try:
        if pa.types.is_struct(kind):
            children = [_neutral(kind.field(i), n) for i in range(kind.num_fields)]
            if any(child is None for child in children):
                return None
            return pa.StructArray.from_arrays(children, fields=[kind.field(i) for i in range(kind.num_fields)])
        value: object
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
            value = []
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            value = ""
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            value = b""
        elif pa.types.is_fixed_size_binary(kind):
            value = bytes(kind.byte_width)
        elif pa.types.is_boolean(kind):
            value = False
        elif pa.types.is_decimal(kind):
            value = decimal.Decimal(0)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind):
            value = 0
        else:
            return None
        return pa.array([value] * n, type=kind)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def neutral_row(schema: pa.Schema) -> pa.Table | None:
    """One row of ``schema`` that no data error is about (None for a type it cannot build)."""
    columns = [_neutral(field, 1) for field in schema]
    if any(column is None for column in columns):
        return None
    return pa.Table.from_arrays(columns, schema=schema)


def _blank(row: pa.Table, names: Sequence[str]) -> pa.Table | None:
    out = row
    for name in names:
        index = out.schema.get_field_index(name)
        value = _neutral(out.schema.field(index), out.num_rows)
        if value is None:
            return None
        out = out.set_column(index, out.schema.field(index), value)
    return out


def find_column(row: pa.Table, probe: Probe) -> str | None:
    """The column of the poison ``row`` whose value alone makes it fail (blanked halves of its
    columns are tried), or None."""

    def passes(names: Sequence[str]) -> bool:
        blanked = _blank(row, names)
        return blanked is not None and probe([blanked]) is None

    names = list(row.column_names)
    if not names or not passes(names):
        return None
    while len(names) > 1:
        half = names[: len(names) // 2]
        names = half if passes(half) else names[len(names) // 2:]
    return names[0] if passes(names) else None


def set_aside(tables: Sequence[pa.Table], probe: Probe, error: BaseException) -> tuple[list[pa.Table], list[Poison]]:
    """Finds the rows of ``tables`` (the writes of one branch, whose commit raised the data error
    ``error``) that make it fail; returns the rows left of each write (in order, maybe empty) and
    what was set aside. ``probe`` dry-runs a commit (see the module docstring).

    Raises:
        ``error``: the failure is not about the rows (a neutral row fails alone too), or the
            rows left still fail after ``MAX_ROUNDS`` searches.
        Whatever else ``probe`` raises (a failure that is not about the data, met meanwhile).
    """
    if tables:
        control = neutral_row(tables[0].schema)
        if control is not None and probe([control]) is not None:
            raise error
    rest = list(tables)
    index = [np.arange(t.num_rows) for t in tables]  # rows of each write still in ``rest``
    poison: list[Poison] = []
    for _ in range(MAX_ROUNDS):
        found: list[tuple[list[Piece], BaseException]] = []
        live = [(w, 0, t.num_rows) for w, t in enumerate(rest) if t.num_rows]
        if not live:  # no rows to blame
            raise error
        _search(rest, live, error, probe, found)
        gone: dict[int, list[int]] = {}
        for pieces, failure in found:
            single = sum(n for _, _, n in pieces) == 1
            column = find_column(_tables(rest, pieces)[0], probe) if single else None
            for w, start, n in pieces:
                rows = tuple(int(i) for i in index[w][start:start + n])
                poison.append(Poison(w, rows, tables[w].take(list(rows)), failure, column))
                gone.setdefault(w, []).extend(range(start, start + n))
        for w, positions in gone.items():
            index[w] = np.delete(index[w], positions)
            rest[w] = tables[w].take(index[w])
        left = [t for t in rest if t.num_rows]
        if not left:
            break
        failed = probe(left)
        if failed is None:
            break
        error = failed
    else:
        raise error
    poison.sort(key=lambda p: (p.write, p.rows))
    return rest, poison
