"""Row retention: TTL expressions, calendar arithmetic, and expiry passes on real Iceberg tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.types import DateType, LongType, NestedField, StringType, TimestampType, TimestamptzType

from cascade_rt.table import commit_append, commit_upsert, ensure_table, read_branch
from cascade_rt.table._ttl import (
    TTL_PROPERTY,
    Ttl,
    add_months,
    column_ttl_property,
    column_ttls,
    expire_rows,
    parse_ttl,
    table_ttl,
    ttl_interval,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("timestamp + INTERVAL 90 DAY", Ttl("timestamp", 90, "day")),
        ("timestamp + INTERVAL 90 DAY DELETE", Ttl("timestamp", 90, "day")),
        ("  ts + interval 1 hour ", Ttl("ts", 1, "hour")),
        ("`created at` + INTERVAL '3' MONTH", Ttl("created at", 3, "month")),
        ('"ts" + toIntervalWeek(2)', Ttl("ts", 2, "week")),
        ("ts+toIntervalYear(1) DELETE", Ttl("ts", 1, "year")),
        ("ts + INTERVAL 30 SECOND", Ttl("ts", 30, "second")),
        ("ts + INTERVAL 1 QUARTER", Ttl("ts", 1, "quarter")),
    ],
)
def test_parse_ttl_reads_the_forms_moose_users_write(expression: str, expected: Ttl) -> None:
    assert parse_ttl(expression) == expected
    assert Ttl.of_property(expected.property) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "toDate(ts) + INTERVAL 1 DAY",
        "ts + INTERVAL 1 DAY TO DISK 'cold'",
        "ts + INTERVAL 1 DAY, ts + INTERVAL 2 DAY",
        "ts + INTERVAL 1 FORTNIGHT",
        "ts - INTERVAL 1 DAY",
        "ts + INTERVAL 1 DAY DELETE WHERE x = 1",
    ],
)
def test_parse_ttl_refuses_anything_else_naming_it_and_the_accepted_forms(expression: str) -> None:
    with pytest.raises(ValueError, match=r"is not supported on Iceberg tables; write '<column> \+ INTERVAL") as info:
        parse_ttl(expression)
    assert repr(expression) in str(info.value)


def test_bad_ttl_properties_fail_by_name() -> None:
    assert table_ttl({}) is None
    with pytest.raises(ValueError, match=f"table property {TTL_PROPERTY} must be"):
        table_ttl({TTL_PROPERTY: "ts ninety days"})
    assert ttl_interval({}) == 60.0
    assert ttl_interval({"cascade.ttl.interval-ms": "250"}) == 0.25
    with pytest.raises(ValueError, match=r"cascade\.ttl\.interval-ms must be a positive integer"):
        ttl_interval({"cascade.ttl.interval-ms": "0"})


def _us(*moments: dt.datetime) -> np.ndarray:
    return np.array([int(m.timestamp() * 1_000_000) for m in moments], dtype=np.int64)


def test_add_months_is_calendar_arithmetic_clamped_to_the_month_end() -> None:
    got = add_months(_us(dt.datetime(2026, 1, 31, 13, 5, tzinfo=UTC), dt.datetime(2024, 1, 31, tzinfo=UTC),
                         dt.datetime(2025, 11, 15, 1, 2, 3, tzinfo=UTC), dt.datetime(1969, 12, 31, 23, tzinfo=UTC)), 1)
    assert list(got) == list(_us(dt.datetime(2026, 2, 28, 13, 5, tzinfo=UTC), dt.datetime(2024, 2, 29, tzinfo=UTC),
                                 dt.datetime(2025, 12, 15, 1, 2, 3, tzinfo=UTC), dt.datetime(1970, 1, 31, 23, tzinfo=UTC)))
    assert list(add_months(_us(dt.datetime(2024, 2, 29, tzinfo=UTC)), 12)) == list(_us(dt.datetime(2025, 2, 28, tzinfo=UTC)))


def test_expired_compares_column_plus_duration_with_now() -> None:
    ts = pa.array([NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1), NOW - dt.timedelta(hours=23), None],
                  pa.timestamp("us", tz="UTC"))
    assert Ttl("ts", 1, "day").expired(ts, int(NOW.timestamp() * 1_000_000)).tolist() == [True, True, False, False]
    # Jan 31 13:00 + 1 month = Feb 28 13:00 (2026): expired at Feb 28 13:00, not at 12:59.
    jan = pa.array([dt.datetime(2026, 1, 31, 13, 0)], pa.timestamp("us"))
    month = Ttl("ts", 1, "month")
    assert month.expired(jan, int(dt.datetime(2026, 2, 28, 12, 59, tzinfo=UTC).timestamp() * 1e6)).tolist() == [False]
    assert month.expired(jan, int(dt.datetime(2026, 2, 28, 13, 0, tzinfo=UTC).timestamp() * 1e6)).tolist() == [True]
    days = pa.array([dt.date(2026, 3, 30), dt.date(2026, 3, 31)], pa.date32())
    assert Ttl("d", 1, "day").expired(days, int(NOW.timestamp() * 1e6)).tolist() == [True, False]


SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "ts", TimestamptzType(), required=False),
    NestedField(3, "name", StringType(), required=False),
    identifier_field_ids=[1],
)


def _rows(ages_days: list[float | None], start: int = 0) -> pa.Table:
    ts = [None if a is None else NOW - dt.timedelta(days=a) for a in ages_days]
    ids = list(range(start, start + len(ts)))
    return pa.table({"id": pa.array(ids, pa.int64()), "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                     "name": [f"n{i}" for i in ids]})


@pytest.mark.parametrize("mode", ["merge-on-read", "copy-on-write"])
def test_a_pass_deletes_the_expired_rows_and_readers_no_longer_see_them(catalog: Catalog, mode: str) -> None:
    table = ensure_table(catalog, "default.events", SCHEMA,
                         properties={TTL_PROPERTY: "ts 30 day", "write.merge.mode": mode})
    commit_append(table, _rows([100, 31, 29, 1, None]))
    commit_append(table, _rows([40, 45], start=10))  # a file expired as a whole
    commit_append(table, _rows([2, 3], start=20), properties={"cascade.source.s": "5"})  # pruned by its metrics
    result = expire_rows(table, now=NOW)
    assert result.rows_expired == 4
    assert sorted(read_branch(table, "main").column("id").to_pylist()) == [2, 3, 4, 20, 21]
    assert table.current_snapshot().summary["cascade.source.s"] == "5"  # type: ignore[union-attr, index]
    # Nothing more has expired: no commit.
    head = table.metadata.current_snapshot_id
    assert expire_rows(table, now=NOW).rows_expired == 0
    assert table.metadata.current_snapshot_id == head
    # A day later, the row 29 days old is past 30 days.
    assert expire_rows(table, now=NOW + dt.timedelta(days=1, seconds=1)).rows_expired == 1
    assert sorted(read_branch(table, "main").column("id").to_pylist()) == [3, 4, 20, 21]


def test_a_pass_after_upserts_counts_only_live_rows(catalog: Catalog) -> None:
    table = ensure_table(catalog, "default.upserted", SCHEMA, properties={TTL_PROPERTY: "ts 1 day"})
    commit_upsert(table, _rows([5, 5, 0.5]), ["id"])
    commit_upsert(table, _rows([0.1]), ["id"])  # row 0 replaced by a fresh one (its old row is deleted)
    assert expire_rows(table, now=NOW).rows_expired == 1
    assert sorted(read_branch(table, "main").column("id").to_pylist()) == [0, 2]


def test_naive_timestamps_are_utc_and_dates_midnight_utc(catalog: Catalog) -> None:
    schema = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "at", TimestampType()),
                    NestedField(3, "day", DateType()))
    naive = ensure_table(catalog, "default.naive", schema, properties={TTL_PROPERTY: "at 1 hour"})
    at = [dt.datetime(2026, 3, 31, 10, 59), dt.datetime(2026, 3, 31, 11, 1)]
    commit_append(naive, pa.table({"id": pa.array([1, 2], pa.int64()), "at": pa.array(at, pa.timestamp("us")),
                                   "day": pa.array([dt.date(2026, 3, 29), dt.date(2026, 3, 31)], pa.date32())}))
    assert expire_rows(naive, now=NOW).rows_expired == 1
    assert expire_rows(naive, now=NOW, ttl=Ttl("day", 1, "day")).rows_expired == 0  # row 1 is gone already
    assert read_branch(naive, "main").column("id").to_pylist() == [2]
    assert expire_rows(naive, now=NOW + dt.timedelta(hours=12), ttl=Ttl("day", 1, "day")).rows_expired == 1


def test_a_ttl_on_a_column_that_is_not_a_time_fails_naming_it(catalog: Catalog) -> None:
    table = ensure_table(catalog, "default.bad", SCHEMA, properties={TTL_PROPERTY: "name 1 day"})
    commit_append(table, _rows([1]))
    with pytest.raises(ValueError, match="ttl column 'name' is string; it must be a date or a timestamp"):
        expire_rows(table, now=NOW)
    with pytest.raises(ValueError, match="ttl column 'nope' is not in the table"):
        expire_rows(table, now=NOW, ttl=Ttl("nope", 1, "day"))


COLUMNS = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "ts", TimestamptzType(), required=True),
    NestedField(3, "email", StringType(), required=True),
    NestedField(4, "phone", StringType(), required=False),
    NestedField(5, "score", LongType(), required=True),
    identifier_field_ids=[1],
)


def _people(ages: list[float], start: int = 0) -> pa.Table:
    ids = list(range(start, start + len(ages)))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "ts": pa.array([NOW - dt.timedelta(days=a) for a in ages], pa.timestamp("us", tz="UTC")),
        "email": [f"e{i}@x" for i in ids], "phone": [f"p{i}" for i in ids], "score": pa.array(ids, pa.int64()),
    })


@pytest.mark.parametrize("mode", ["merge-on-read", "copy-on-write"])
def test_column_ttls_clear_values_and_keep_the_rows(catalog: Catalog, mode: str) -> None:
    properties = {"cascade.ttl.columns": "email=ts 30 day;phone=ts 7 day", "write.merge.mode": mode,
                  TTL_PROPERTY: "ts 365 day"}
    table = ensure_table(catalog, "default.people", COLUMNS, properties=properties)
    commit_append(table, _people([400, 40, 10, 1], start=1))
    result = expire_rows(table, now=NOW)
    # Row 1 expires; row 2 loses its email and phone; row 3 its phone; row 4 keeps both.
    assert (result.rows_expired, result.values_cleared) == (1, 3)
    got = {r["id"]: (r["email"], r["phone"], r["score"]) for r in read_branch(table, "main").to_pylist()}
    assert got == {2: ("", None, 2), 3: ("e3@x", None, 3), 4: ("e4@x", "p4", 4)}
    # Cleared values are not cleared again: nothing to commit.
    head = table.metadata.current_snapshot_id
    assert expire_rows(table, now=NOW).values_cleared == 0
    assert table.metadata.current_snapshot_id == head


def test_column_ttls_are_checked_by_name(catalog: Catalog) -> None:
    table = ensure_table(catalog, "default.people", COLUMNS)
    commit_append(table, _people([1]))
    with pytest.raises(ValueError, match="column TTL on 'id', a key column"):
        expire_rows(table, now=NOW, columns={"id": Ttl("ts", 1, "day")})
    with pytest.raises(ValueError, match="column TTL on 'nope', which is not in the table"):
        expire_rows(table, now=NOW, columns={"nope": Ttl("ts", 1, "day")})
    with pytest.raises(ValueError, match="ttl column 'email' is string"):
        expire_rows(table, now=NOW, columns={"phone": Ttl("email", 1, "day")})
    with pytest.raises(ValueError, match=r"cascade\.ttl\.columns must be"):
        column_ttls({"cascade.ttl.columns": "ts 1 day"})
    assert column_ttls({"cascade.ttl.columns": column_ttl_property({"a": Ttl("ts", 2, "hour")}) or ""}) == {
        "a": Ttl("ts", 2, "hour")}
