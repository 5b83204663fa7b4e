"""Poison records: which failures are about the data, the search for the rows, and the writer
that commits the others once and sends exactly those rows to its dead-letter target.

The failure that is about the data here is a real one: pyiceberg's own upper bound of string
statistics (restored in place of ``cascade_rt.table._bounds``' fix by ``unfixed_bounds``) fails
every commit whose largest string has U+D7FF as its 16th code point.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
import pytest
import sqlalchemy.exc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from actors import ActorSystem, Backoff, Promise
from cascade_rt.stream import spawn_dead_letter_queue
from cascade_rt.table import (
    CommitResult,
    Flush,
    Stats,
    TableWriter,
    Write,
    commit_append,
    ensure_table,
    open_catalog,
)
from cascade_rt.table._commit_worker import HEADER, _reply_error
from cascade_rt.table._poison import is_data_error, mark_data_error, neutral_row, set_aside
from cascade_rt.table._sources import positions_in

Rows = Callable[..., pa.Table]
POISON = "z" * 15 + "\ud7ff" + " and more"
"""A valid string whose pyiceberg upper bound (16 code points, the last incremented) is a surrogate."""


def open_unfixed_catalog(home: Path) -> Catalog:
    """The catalog, in a process where pyiceberg's own string bounds are back (a commit process's factory)."""
    import pyiceberg.io.pyarrow as arrow_io
    import pyiceberg.utils.truncate as truncate

    arrow_io.truncate_upper_bound_text_string = truncate.truncate_upper_bound_text_string  # type: ignore[attr-defined]
    return open_catalog(home)


@pytest.fixture
def unfixed_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyiceberg's string upper bounds as pyiceberg has them (the attribute ``_bounds.install`` replaces)."""
    import pyiceberg.io.pyarrow as arrow_io
    import pyiceberg.utils.truncate as truncate

    monkeypatch.setattr(arrow_io, "truncate_upper_bound_text_string", truncate.truncate_upper_bound_text_string)
    # A commit process imports this module to reach open_unfixed_catalog.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))


# -- which failures are about the data -----------------------------------------------------------


class _Unpicklable(ValueError):
    def __reduce__(self) -> Any:
        raise TypeError("not this one")


def _from(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "about_data"),
    [
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), True),
        (pa.ArrowInvalid("Could not convert 'x' with type str"), True),
        (pa.ArrowTypeError("expected bytes"), True),
        (pa.ArrowNotImplementedError("no kernel"), True),
        (ValueError("bad value"), True),
        (TypeError("bad type"), True),
        (OverflowError("too big"), True),
        (OSError(28, "No space left on device"), False),
        (PermissionError(13, "Permission denied"), False),
        (MemoryError(), False),
        (CommitFailedException("the branch moved"), False),
        (sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("database is locked")), False),
        (asyncio.CancelledError(), False),
        (KeyboardInterrupt(), False),
        (RuntimeError("something else"), False),
        (_from(ValueError("could not write"), OSError(5, "I/O error")), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_a_failure_is_about_the_data_by_its_kind(error: BaseException, about_data: bool) -> None:
    assert is_data_error(error) is about_data


def _across(error: BaseException) -> BaseException:
    """``error`` as a commit process replies with it, read back."""
    reply = _reply_error(error, None)
    ok, value, _ = pickle.loads(reply[HEADER.size:])
    assert ok is False
    assert isinstance(value, BaseException)
    return value


def test_the_verdict_crosses_the_commit_process_boundary_even_when_the_error_does_not() -> None:
    unicode = _across(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"))
    assert isinstance(unicode, UnicodeEncodeError)
    assert is_data_error(unicode)
    text = _across(_Unpicklable("a value we cannot take"))
    assert type(text) is RuntimeError  # it travelled as its text...
    assert str(text) == "_Unpicklable: a value we cannot take"
    assert is_data_error(text)  # ...and kept its verdict
    disk = _across(_from(ValueError("could not write"), OSError(5, "I/O error")))
    assert disk.__cause__ is None  # the cause stayed behind; the verdict made with it did not
    assert not is_data_error(disk)
    assert not is_data_error(_across(OSError(28, "No space left on device")))
    assert is_data_error(mark_data_error(RuntimeError("judged there"), True))


# -- the search ----------------------------------------------------------------------------------


def _rows_of(*names: str) -> pa.Table:
    return pa.table({"id": pa.array(range(len(names)), pa.int64()), "name": pa.array(names, pa.string())})


def _probe_failing_on(*bad: str, together: tuple[str, str] | None = None,
                      calls: list[int] | None = None) -> Callable[[list[pa.Table]], BaseException | None]:
    """A commit of rows that fails on a ``bad`` name, or when both names of ``together`` are there."""

    def probe(tables: list[pa.Table]) -> BaseException | None:
        if calls is not None:
            calls.append(sum(t.num_rows for t in tables))
        names = {n for t in tables for n in t.column("name").to_pylist()}
        hit = sorted(names & set(bad))
        if hit:
            return ValueError(f"cannot take {hit[0]}")
        if together is not None and set(together) <= names:
            return ValueError("cannot take these two together")
        return None

    return probe


def test_the_search_sets_aside_exactly_the_failing_rows_across_writes() -> None:
    writes = [_rows_of(*(f"w{w}r{r}" for r in range(25))) for w in range(8)]
    calls: list[int] = []
    probe = _probe_failing_on("w2r7", "w5r0", "w5r24", calls=calls)
    rest, poison = set_aside(writes, probe, ValueError("the group failed"))
    assert [(p.write, p.rows) for p in poison] == [(2, (7,)), (5, (0,)), (5, (24,))]
    assert [p.data.column("name").to_pylist() for p in poison] == [["w2r7"], ["w5r0"], ["w5r24"]]
    assert [str(p.error) for p in poison] == ["cannot take w2r7", "cannot take w5r0", "cannot take w5r24"]
    assert [p.column for p in poison] == ["name"] * 3  # blanking that column lets each row pass
    assert [t.num_rows for t in rest] == [25, 25, 24, 25, 25, 23, 25, 25]
    assert "w5r24" not in rest[5].column("name").to_pylist()
    assert len(calls) < 100  # a bisection, not a trial of every row


def test_rows_that_fail_only_together_are_set_aside_together() -> None:
    writes = [_rows_of("a", "b", "c", "d")]
    rest, poison = set_aside(writes, _probe_failing_on(together=("a", "b")), ValueError("the group failed"))
    assert [(p.rows, p.column) for p in poison] == [((0, 1), None)]
    assert rest[0].column("name").to_pylist() == ["c", "d"]


def test_a_failure_that_a_neutral_row_meets_too_is_not_about_the_rows() -> None:
    def always(tables: list[pa.Table]) -> BaseException | None:
        return ValueError("the metadata is broken")

    error = ValueError("the group failed")
    with pytest.raises(ValueError, match="the group failed"):
        set_aside([_rows_of("a", "b")], always, error)


def test_a_neutral_row_fits_every_column_kind() -> None:
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False), pa.field("s", pa.string(), nullable=False),
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False), pa.field("d", pa.decimal128(10, 2), nullable=False),
        pa.field("tags", pa.list_(pa.string()), nullable=False), pa.field("ok", pa.bool_(), nullable=False),
        pa.field("pt", pa.struct([pa.field("x", pa.float64(), nullable=False), pa.field("note", pa.string())]),
                 nullable=False),
        pa.field("maybe", pa.int32()),
    ])
    row = neutral_row(schema)
    assert row is not None
    assert row.schema == schema
    assert row.to_pylist()[0]["pt"] == {"x": 0.0, "note": None}


# -- dry runs ------------------------------------------------------------------------------------


def test_a_dry_run_raises_what_the_commit_would_and_leaves_neither_snapshot_nor_file(
    catalog: Catalog, schema: Schema, rows: Rows, unfixed_bounds: None
) -> None:
    table = ensure_table(catalog, "default.t", schema)
    before = sorted(p for p in Path(table.location().removeprefix("file://")).rglob("*") if p.is_file())
    assert commit_append(table, rows([1, 2]), dry_run=True).rows_written == 2
    assert table.current_snapshot() is None
    after = sorted(p for p in Path(table.location().removeprefix("file://")).rglob("*") if p.is_file())
    assert after == before  # its data file, manifest and manifest list were deleted
    poisoned = pa.table({"id": pa.array([3], pa.int64()), "name": [POISON], "value": [3.0]})
    with pytest.raises(UnicodeEncodeError):
        commit_append(table, poisoned, dry_run=True)
    assert table.current_snapshot() is None


# -- the writer ----------------------------------------------------------------------------------


def _with_poison(rows: Rows, write: int, at: int, size: int = 10) -> pa.Table:
    data = rows([write * size + i for i in range(size)])
    names = data.column("name").to_pylist()
    names[at] = POISON
    return data.set_column(1, "name", pa.array(names, pa.string()))


def _snapshots(table: Table) -> list[dict[str, str]]:
    table.refresh()
    return [dict(s.summary.additional_properties) if s.summary else {} for s in table.snapshots()]


def _ids(home: Path) -> list[int]:
    ids: list[int] = open_catalog(home).load_table("default.t").scan().to_arrow().column("id").to_pylist()
    return sorted(ids)


def _opts(home: Path, schema: Schema, process: bool, **extra: Any) -> dict[str, Any]:
    catalog = functools.partial(open_unfixed_catalog if process else open_catalog, home)
    return {"catalog": catalog, "identifier": "default.t", "schema": schema, "max_delay": 600,
            "max_rows": 1_000_000, "commit_process": process, **extra}


@pytest.mark.anyio
@pytest.mark.parametrize("process", [False, True], ids=["thread", "commit-process"])
@pytest.mark.parametrize("deduplicate", [False, True], ids=["append", "upsert"])
async def test_one_poison_row_goes_to_the_dlq_alone_and_the_group_commits_once(
    home: Path, schema: Schema, rows: Rows, unfixed_bounds: None, process: bool, deduplicate: bool
) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    commit_append(table, rows([5, 6], tag="old"))  # an upsert replaces them: its dry runs read that file
    with anyio.fail_after(120):
        async with ActorSystem("t") as system:
            dlq = await spawn_dead_letter_queue(system, name="dlq")
            ref = await system.spawn(TableWriter, name="w", dead_letter=dlq,
                                     **_opts(home, schema, process, deduplicate=deduplicate))
            promises = [Promise[CommitResult]() for _ in range(12)]
            for w, promise in enumerate(promises):
                data = _with_poison(rows, w, at=3) if w == 7 else rows([w * 10 + i for i in range(10)])
                await ref.tell(Write(data, promise))
            flushed = Promise[CommitResult | None]()
            await ref.tell(Flush(flushed))
            results = [await p.wait() for p in promises]
            assert len(set(results)) == 1  # one commit answered every write, the poisoned one too
            assert results[0].rows_written == 119
            assert await flushed.wait() == results[0]
            stats = await ref.ask(Stats())
            assert (stats.commits, stats.failed_commits, stats.poison_rows) == (1, 0, 1)
            assert ref.statistics().restarts == 0
            letters = dlq.read()
    assert sorted([*(set(range(120)) - {73}), *(() if deduplicate else (5, 6))]) == _ids(home)
    assert results[0].rows_updated == (2 if deduplicate else 0)
    assert len(_snapshots(open_catalog(home).load_table("default.t"))) == 2  # the one before, and one commit
    (letter,) = letters
    assert letter.original_record == {"id": 73, "name": POISON, "value": 73.0}
    assert letter.source == "default.t.commit"
    assert letter.error_type == "UnicodeEncodeError"
    assert letter.error_message.startswith(
        "table default.t, column 'name': a commit failed because of this record; it was left out and the rest "
        "committed (UnicodeEncodeError: ")


@pytest.mark.anyio
@pytest.mark.parametrize("process", [False, True], ids=["thread", "commit-process"])
async def test_writes_from_a_stream_commit_their_positions_past_the_rows_set_aside(
    home: Path, schema: Schema, rows: Rows, unfixed_bounds: None, process: bool
) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    letters: list[tuple[list[Any], str, str, str | None]] = []

    async def dead_letter(records: list[Any], error: str, source: str, *, error_type: str | None = None) -> None:
        await anyio.lowlevel.checkpoint()
        letters.append((records, error, source, error_type))

    with anyio.fail_after(120):
        async with ActorSystem("t") as system:
            ref = await system.spawn(TableWriter, name="w", dead_letter=dead_letter, **_opts(home, schema, process))
            first, second = Promise[CommitResult](), Promise[CommitResult]()
            await ref.tell(Write(rows(list(range(10))), first, source=("log:s", 0, 10)))
            await ref.tell(Write(_with_poison(rows, 1, at=9), second, source=("log:s", 10, 20)))
            await ref.ask(Flush())
            assert (await second.wait()).rows_written == 19
            # A group of nothing but a poison record still moves the position past it.
            alone = Promise[CommitResult]()
            await ref.tell(Write(_with_poison(rows, 2, at=0, size=1), alone, source=("log:s", 20, 21)))
            await ref.ask(Flush())
            assert (await alone.wait()).rows_written == 0
            assert await ref.ask(Stats()) is not None
    assert [entry[0][0]["id"] for entry in letters] == [19, 2]
    assert {entry[2] for entry in letters} == {"default.t.commit"}
    summaries = _snapshots(table)
    assert [positions_in(s) for s in summaries] == [{"log:s": 20}, {"log:s": 21}]
    assert summaries[1].get("added-records") is None  # the second snapshot adds no rows
    assert _ids(home) == list(range(19))


@pytest.mark.anyio
async def test_without_a_dead_letter_queue_the_poison_row_is_logged_and_counted(
    home: Path, schema: Schema, rows: Rows, unfixed_bounds: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cascade_rt.table")
    with anyio.fail_after(60):
        async with ActorSystem("t") as system:
            ref = await system.spawn(TableWriter, name="w", **_opts(home, schema, False))
            good, bad = Promise[CommitResult](), Promise[CommitResult]()
            await ref.tell(Write(rows([1, 2]), good))
            await ref.tell(Write(_with_poison(rows, 5, at=0, size=2), bad))
            await ref.ask(Flush())
            assert (await bad.wait()).rows_written == 3
            assert (await ref.ask(Stats())).poison_rows == 1
    assert _ids(home) == [1, 2, 11]
    (record,) = [r for r in caplog.records if r.name == "cascade_rt.table"]
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert message.startswith("1 record(s) dropped (no dead-letter queue): table default.t, column 'name': "
                              "a commit failed because of this record")
    assert message.endswith('; records: [{"id":10,"name":"' + POISON + '","value":10.0}]')


@pytest.mark.anyio
@pytest.mark.parametrize("process", [False, True], ids=["thread", "commit-process"])
async def test_a_failure_that_is_not_about_the_data_fails_the_commit_and_restarts_the_writer(
    home: Path, schema: Schema, rows: Rows, unfixed_bounds: None, process: bool
) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    data_dir = Path(table.location().removeprefix("file://")) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with anyio.fail_after(120):
        async with ActorSystem("t", backoff=Backoff(initial=0.01, maximum=0.05)) as system:
            dlq = await spawn_dead_letter_queue(system, name="dlq")
            ref = await system.spawn(TableWriter, name="w", dead_letter=dlq, **_opts(home, schema, process))
            first = Promise[CommitResult]()
            await ref.tell(Write(rows([1]), first))
            await ref.ask(Flush())
            await first.wait()
            aside = data_dir.rename(data_dir.with_name("aside"))
            data_dir.write_text("not a directory")  # every data file write now fails: the disk, not the rows
            lost, poisoned = Promise[CommitResult](), Promise[CommitResult]()
            await ref.tell(Write(rows([2]), lost))
            await ref.tell(Write(_with_poison(rows, 3, at=0, size=1), poisoned))
            await ref.tell(Flush())
            for promise in (lost, poisoned):
                with pytest.raises(OSError):  # noqa: PT011 - the operating system's error, whatever its wording
                    await promise.wait()
            data_dir.unlink()
            aside.rename(data_dir)
            kept = Promise[CommitResult]()
            await ref.tell(Write(rows([4]), kept))
            await ref.tell(Flush())
            assert (await kept.wait()).rows_written == 1
            assert ref.statistics().restarts == 1
            assert (await ref.ask(Stats())).poison_rows == 0
            assert dlq.read() == []
    assert _ids(home) == [1, 4]
