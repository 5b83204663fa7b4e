"""Row retention (a ClickHouse table TTL): rows whose time column plus a duration has passed are deleted.

A table's TTL is its property ``cascade.ttl``, ``"<column> <n> <unit>"`` (``"timestamp 90 day"``;
units ``second``, ``minute``, ``hour``, ``day``, ``week``, ``month``, ``quarter``, ``year``), so
every engine reading the table can see it. :func:`parse_ttl` reads the forms Moose users write
(``"timestamp + INTERVAL 90 DAY"``, ``"timestamp + toIntervalDay(90)"``, with or without a trailing
``DELETE``). A row expires once ``column + n unit <= now`` (UTC; a timestamp without zone is UTC,
a date is midnight UTC); months, quarters and years are calendar ones, a day past the end of the
target month going to its last day, as ClickHouse adds them. Null values never expire.

:func:`expire_rows` runs one pass: it finds the expired live rows (files pruned by the column's
metrics) and removes them in one commit, with position deletes or by rewriting the files, as an
upsert does (see ``_merge``). The table's writer runs it every ``cascade.ttl.interval-ms``
(default one minute) in its commit queue: rows are expired at the first pass after they expire,
not to the second, as ClickHouse deletes them at its next TTL merge.

A column TTL (Moose's ``Annotated[str, ClickHouseTTL("ts + INTERVAL 30 DAY")]``; the property
``cascade.ttl.columns``, ``"email=ts 30 day;..."``) clears one column of the rows it has expired for,
in the same pass: the value becomes null, or for a required column the type's zero (``''``, ``0``,
``false``), as ClickHouse resets it to the type's default; the rows are rewritten (position deletes
plus new rows, in the same commit), the other columns unchanged.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, LessThanOrEqual, Or
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from ._compact import carried_properties
from ._deletes import read_deleted_positions, referenced_data_file
from ._merge import Touched, max_deleted_fraction, read_file, upsert_mode
from ._metadata import CachedTransaction
from ._upsert import _commit_changes

__all__ = (
    "COLUMN_TTL_PROPERTY",
    "DEFAULT_TTL_INTERVAL_MS",
    "TTL_INTERVAL_PROPERTY",
    "TTL_PROPERTY",
    "Ttl",
    "TtlResult",
    "add_months",
    "check_column_ttl",
    "check_ttl_column",
    "column_ttl_property",
    "column_ttls",
    "expire_rows",
    "parse_ttl",
    "table_ttl",
    "ttl_interval",
)

TTL_PROPERTY = "cascade.ttl"
"""Table property: ``"<column> <n> <unit>"``, the table's row retention."""
COLUMN_TTL_PROPERTY = "cascade.ttl.columns"
"""Table property: ``"<column>=<time column> <n> <unit>;..."``, the column TTLs."""
TTL_INTERVAL_PROPERTY = "cascade.ttl.interval-ms"
"""Table property: milliseconds between the writer's TTL passes (default one minute)."""
DEFAULT_TTL_INTERVAL_MS = 60_000

_US = 1_000_000
_FIXED = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 7 * 86_400}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_UNITS = (*_FIXED, *_MONTHS)
_NAME = r"`([^`]+)`|\"([^\"]+)\"|([A-Za-z_][A-Za-z0-9_]*)"
_FORM = re.compile(
    rf"\s*(?:{_NAME})\s*\+\s*(?:INTERVAL\s+'?(\d+)'?\s+([A-Za-z]+)|toInterval([A-Za-z]+)\s*\(\s*(\d+)\s*\))"
    r"(?:\s+DELETE)?\s*",
    re.IGNORECASE,
)
_ACCEPTED = (
    "write '<column> + INTERVAL <n> <unit>' or '<column> + toInterval<Unit>(<n>)' (unit SECOND, MINUTE, HOUR, "
    "DAY, WEEK, MONTH, QUARTER or YEAR), optionally followed by DELETE, over a date or datetime column"
)


@dataclass(frozen=True, slots=True)
class Ttl:
    """Rows expire once ``column`` + ``amount`` ``unit`` has passed.

    Attributes:
        column: The date or timestamp column.
        amount: How many units (>= 0).
        unit: ``second``, ``minute``, ``hour``, ``day``, ``week``, ``month``, ``quarter`` or ``year``.
    """

    column: str
    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in _UNITS:
            raise ValueError(f"TTL unit {self.unit!r} is not one of {', '.join(_UNITS)}")
        if self.amount < 0:
            raise ValueError(f"TTL amount must be >= 0, got {self.amount}")

    @property
    def property(self) -> str:
        """The ``cascade.ttl`` value: ``"<column> <n> <unit>"``."""
        return f"{self.column} {self.amount} {self.unit}"

    @classmethod
    def of_property(cls, value: str) -> Ttl:
        """Reads a ``cascade.ttl`` value.

        Raises:
            ValueError: anything but ``"<column> <n> <unit>"``.
        """
        column, _, rest = value.strip().rpartition(" ")
        column, _, amount = column.rpartition(" ")
        if not column or not amount.isdigit() or rest.lower() not in _UNITS:
            raise ValueError(
                f"table property {TTL_PROPERTY} must be '<column> <n> <unit>' (unit one of {', '.join(_UNITS)}), "
                f"got {value!r}"
            )
        return cls(column, int(amount), rest.lower())

    def shortest_micros(self) -> int:
        """A lower bound of the duration, in microseconds (a month is at least 28 days)."""
        if self.unit in _FIXED:
            return self.amount * _FIXED[self.unit] * _US
        return self.amount * _MONTHS[self.unit] * 28 * 86_400 * _US

    def expired(self, values: pa.Array | pa.ChunkedArray, now_us: int) -> np.ndarray:
        """True for the ``values`` (a date or timestamp column) whose row has expired at ``now_us``
        (microseconds since the epoch, UTC); nulls never expire."""
        micros, valid = _micros(values)
        if self.unit in _FIXED:
            expires = micros + self.amount * _FIXED[self.unit] * _US
        else:
            expires = add_months(micros, self.amount * _MONTHS[self.unit])
        result: np.ndarray = valid & (expires <= now_us)
        return result


@dataclass(frozen=True, slots=True)
class TtlResult:
    """What a TTL pass did.

    Attributes:
        rows_expired: Live rows deleted.
        snapshot_id: The branch head after the pass (None when the branch has no snapshot).
        values_cleared: Column values cleared by column TTLs.
    """

    rows_expired: int
    snapshot_id: int | None
    values_cleared: int = 0


def parse_ttl(expression: str) -> Ttl:
    """The :class:`Ttl` of a ClickHouse TTL expression as Moose's ``OlapConfig(ttl=...)`` takes it.

    ``"timestamp + INTERVAL 90 DAY"``, ``"timestamp + INTERVAL 90 DAY DELETE"``,
    ``"`ts` + toIntervalHour(12)"``.

    Raises:
        ValueError: any other expression (a function of the column, several TTL clauses, a
            ``TO DISK``/``GROUP BY``/``WHERE`` action, an unknown unit), naming it and what is accepted.
    """
    match = _FORM.fullmatch(expression)
    if match is not None:
        column = match.group(1) or match.group(2) or match.group(3)
        amount = match.group(4) or match.group(7)
        unit = (match.group(5) or match.group(6)).lower()
        if unit in _UNITS:
            return Ttl(column, int(amount), unit)
    raise ValueError(f"ttl {expression!r} is not supported on Iceberg tables; {_ACCEPTED}")


def table_ttl(properties: Mapping[str, str]) -> Ttl | None:
    """The table's TTL (property ``cascade.ttl``), or None."""
    value = properties.get(TTL_PROPERTY)
    return Ttl.of_property(value) if value else None


def column_ttls(properties: Mapping[str, str]) -> dict[str, Ttl]:
    """The table's column TTLs (property ``cascade.ttl.columns``): ``{column: Ttl}``.

    Raises:
        ValueError: a value that is not ``"<column>=<time column> <n> <unit>;..."``.
    """
    raw = properties.get(COLUMN_TTL_PROPERTY)
    out: dict[str, Ttl] = {}
    for part in (raw or "").split(";"):
        if not part.strip():
            continue
        column, sep, rest = part.partition("=")
        if not sep or not column.strip():
            raise ValueError(
                f"table property {COLUMN_TTL_PROPERTY} must be '<column>=<time column> <n> <unit>;...', got {raw!r}"
            )
        out[column.strip()] = Ttl.of_property(rest)
    return out


def column_ttl_property(ttls: Mapping[str, Ttl]) -> str | None:
    """The ``cascade.ttl.columns`` value of ``ttls`` (None when there are none)."""
    return ";".join(f"{column}={ttl.property}" for column, ttl in ttls.items()) or None


def ttl_interval(properties: Mapping[str, str]) -> float:
    """Seconds between the writer's TTL passes (property ``cascade.ttl.interval-ms``).

    Raises:
        ValueError: a value that is not a positive integer.
    """
    raw = properties.get(TTL_INTERVAL_PROPERTY)
    if raw is None:
        return DEFAULT_TTL_INTERVAL_MS / 1000
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"table property {TTL_INTERVAL_PROPERTY} must be a positive integer, got {raw!r}")
    return value / 1000


def check_ttl_column(schema: Schema, ttl: Ttl, *, table: str) -> None:
    """Raises ValueError unless ``ttl.column`` is a date or timestamp column of ``schema``."""
    try:
        field = schema.find_field(ttl.column)
    except ValueError:
        raise ValueError(f"{table}: ttl column {ttl.column!r} is not in the table") from None
    if not isinstance(field.field_type, (DateType, TimestampType, TimestamptzType)):
        raise ValueError(f"{table}: ttl column {ttl.column!r} is {field.field_type}; it must be a date or a timestamp")


_CLEARABLE = (StringType, BinaryType, IntegerType, LongType, FloatType, DoubleType, BooleanType)


def check_column_ttl(schema: Schema, column: str, ttl: Ttl, *, table: str) -> None:
    """Raises ValueError unless ``column`` can be cleared by ``ttl``: a field of ``schema`` that is
    not a key, optional (cleared to null) or a required string, binary, number or bool (cleared to
    its zero), with ``ttl.column`` a date or timestamp."""
    check_ttl_column(schema, ttl, table=table)
    try:
        field = schema.find_field(column)
    except ValueError:
        raise ValueError(f"{table}: column TTL on {column!r}, which is not in the table") from None
    if column in schema.identifier_field_names():
        raise ValueError(f"{table}: column TTL on {column!r}, a key column (a key is never cleared)")
    if field.required and not isinstance(field.field_type, _CLEARABLE):
        raise ValueError(
            f"{table}: column TTL on {column!r} ({field.field_type}): make the field Optional (cleared to null) "
            "or give it a string, number or bool type (cleared to '', 0 or false)"
        )


def expire_rows(table: Table, *, now: dt.datetime | None = None, branch: str = MAIN_BRANCH,
                ttl: Ttl | None = None, columns: Mapping[str, Ttl] | None = None) -> TtlResult:
    """Delete the live rows of ``branch`` that have expired at ``now`` (default: the current time)
    by ``ttl`` (default: the table's ``cascade.ttl``), and clear the column values expired by
    ``columns`` (default: the table's ``cascade.ttl.columns``), in one commit; none when nothing
    changed. The commit carries the head's ``cascade.*`` summary properties (stream positions).
    Blocking.

    Raises:
        ValueError: a bad ``cascade.ttl`` or ``cascade.ttl.columns``, a TTL column that is missing
            or not a date or timestamp, or a column TTL that ``check_column_ttl`` refuses.
    """
    ttl = ttl or table_ttl(table.metadata.properties)
    columns = dict(columns) if columns is not None else column_ttls(table.metadata.properties)
    head = table.metadata.snapshot_by_name(branch)
    if (ttl is None and not columns) or head is None:
        return TtlResult(0, head.snapshot_id if head is not None else None)
    name = f"table {'.'.join(table.name())}"
    schema = table.schema()
    if ttl is not None:
        check_ttl_column(schema, ttl, table=name)
    for column, column_ttl in columns.items():
        check_column_ttl(schema, column, column_ttl, table=name)
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    now_us = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    props = table.metadata.properties
    mode = upsert_mode(props, table.metadata.format_version)
    threshold = max_deleted_fraction(props)
    expired = cleared = 0
    rules = [t for t in (ttl, *columns.values()) if t is not None]
    prune = functools.reduce(Or, (_prune(schema, t, now_us - t.shortest_micros()) for t in rules))
    needed = list(dict.fromkeys([*(t.column for t in rules), *columns]))
    with CachedTransaction(table) as tx:
        md = tx.table_metadata
        touched: list[Touched] = []
        rewritten: list[pa.Table] = []
        for task in tx._scan(row_filter=prune).use_ref(branch).plan_files():
            values = read_file(md, table.io, task.file, needed)
            path = task.file.file_path
            deleted = read_deleted_positions(table.io, task.delete_files, path) if task.delete_files else np.empty(0, np.int64)
            live = np.ones(values.num_rows, dtype=bool)
            live[deleted[deleted < live.size]] = False
            gone = live & ttl.expired(values.column(ttl.column), now_us) if ttl is not None else np.zeros_like(live)
            clear = {c: live & ~gone & t.expired(values.column(t.column), now_us) & _set(values.column(c), schema, c)
                     for c, t in columns.items()}
            changed = functools.reduce(np.logical_or, clear.values(), np.zeros_like(live))
            hits = np.flatnonzero(gone | changed)
            if not hits.size:
                continue
            own = [d for d in task.delete_files if referenced_data_file(d) == path]
            touched.append(Touched(task, deleted, hits, own))
            expired += int(np.count_nonzero(gone))
            if changed.any():
                at = np.flatnonzero(changed)
                rows = read_file(md, table.io, task.file).take(pa.array(at))
                for column, mask in clear.items():
                    cleared += int(np.count_nonzero(mask))
                    i = rows.schema.get_field_index(column)
                    rows = rows.set_column(i, rows.field(i), _cleared(rows.column(i), pa.array(mask[at]), schema, column))
                rewritten.append(rows)
        if touched:
            data = pa.concat_tables(rewritten) if rewritten else md.schema().as_arrow().empty_table()
            _commit_changes(table, tx, md, branch, data, touched, mode, threshold, carried_properties(head))
    after = table.metadata.snapshot_by_name(branch)
    return TtlResult(expired, after.snapshot_id if after is not None else None, cleared)


def _zero(schema: Schema, column: str, arrow_type: pa.DataType) -> Any:
    """What a cleared value of ``column`` becomes: null, or for a required field the type's zero."""
    if not schema.find_field(column).required:
        return pa.scalar(None, arrow_type)
    if pa.types.is_boolean(arrow_type):
        return pa.scalar(False, arrow_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pa.scalar("", arrow_type)
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return pa.scalar(b"", arrow_type)
    return pa.scalar(0, arrow_type)


def _set(values: pa.ChunkedArray, schema: Schema, column: str) -> np.ndarray:
    """True where ``values`` is not cleared yet (not null, not the zero of a required field)."""
    zero = _zero(schema, column, values.type)
    if not zero.is_valid:
        return np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    differs = pc.fill_null(pc.not_equal(values, zero), False)
    return np.asarray(differs.to_numpy(zero_copy_only=False), dtype=bool)


def _cleared(values: pa.ChunkedArray, mask: pa.Array, schema: Schema, column: str) -> pa.ChunkedArray | pa.Array:
    """``values`` with those under ``mask`` cleared."""
    result: pa.ChunkedArray | pa.Array = pc.if_else(mask, _zero(schema, column, values.type), values)
    return result


def _prune(schema: Schema, ttl: Ttl, cutoff_us: int) -> BooleanExpression:
    """Files that may hold expired rows: the column's lower bound at most ``cutoff_us``."""
    field = schema.find_field(ttl.column)
    bound = cutoff_us // (86_400 * _US) if isinstance(field.field_type, DateType) else cutoff_us
    try:
        return LessThanOrEqual(ttl.column, bound)  # type: ignore[call-arg, arg-type]
    except (TypeError, ValueError):  # pragma: no cover - a literal pyiceberg cannot make: no pruning
        return AlwaysTrue()


def _micros(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch (UTC) of a date or timestamp column, and which are not null."""
    valid = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_date(values.type):
        days = pc.fill_null(values.cast(pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
        return days.astype(np.int64) * 86_400 * _US, valid
    if pa.types.is_timestamp(values.type):
        micros = values.cast(pa.timestamp("us", tz=values.type.tz)).cast(pa.int64())
        return np.asarray(pc.fill_null(micros, 0).to_numpy(zero_copy_only=False), dtype=np.int64), valid
    raise ValueError(f"a TTL column must be a date or a timestamp, got {values.type}")


def add_months(micros: np.ndarray, months: int) -> np.ndarray:
    """``micros`` (since the epoch) plus ``months`` calendar months, a day past the end of the target
    month clamped to its last day (Jan 31 + 1 month = Feb 28 or 29), the time of day kept."""
    t = micros.astype("datetime64[us]")
    day = t.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    day_of_month = day - month.astype("datetime64[D]")
    target = month + months
    last = (target + 1).astype("datetime64[D]") - target.astype("datetime64[D]") - np.timedelta64(1, "D")
    moved = target.astype("datetime64[D]") + np.minimum(day_of_month, last)
    result: np.ndarray = (moved.astype("datetime64[us]") + (t - day.astype("datetime64[us]"))).astype(np.int64)
    return result
