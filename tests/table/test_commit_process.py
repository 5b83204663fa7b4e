"""The commit process: its protocol (in-process), a real child process, and the writer using one."""

from __future__ import annotations

import functools
import io
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema

from actors import ActorSystem, Backoff, Promise
from cascade_rt.table import (
    CommitResult,
    Flush,
    Merge,
    Stats,
    TableWriter,
    Write,
    ensure_table,
    open_catalog,
    read_branch,
)
from cascade_rt.table._commit_process import CommitProcess, CommitProcessError, check_catalog_source
from cascade_rt.table._commit_worker import encode_message, read_message, serve
from cascade_rt.table._maintenance import MAX_SNAPSHOTS_PROPERTY
from cascade_rt.table._schedule import MaintenanceCounters
from cascade_rt.testing import commit_processes

Rows = Callable[..., pa.Table]


def _ids(catalog: Catalog, branch: str | None = None) -> list[int]:
    table = catalog.load_table("default.t")
    data = read_branch(table, branch) if branch else table.scan().to_arrow()
    return sorted(data.column("id").to_pylist())


def _exchange(*requests: tuple[str, tuple[Any, ...]]) -> list[tuple[bool, Any, MaintenanceCounters]]:
    """Runs ``serve`` over in-memory pipes; returns its replies in order."""
    replies = io.BytesIO()
    serve(io.BytesIO(b"".join(encode_message(r) for r in requests)), replies)
    replies.seek(0)
    answers = []
    while replies.tell() < len(replies.getbuffer()):
        answers.append(read_message(replies))
    return answers


# -- the protocol, in process ----------------------------------------------------------------------


def test_the_worker_opens_commits_and_merges_in_order(home: Path, schema: Schema, rows: Rows) -> None:
    catalog = open_catalog(home)
    ensure_table(catalog, "default.t", schema)
    factory = functools.partial(open_catalog, home)
    answers = _exchange(
        ("open", (factory, "default.t", ["id"], True)),
        ("commit", ({"main": [rows([1, 2]), rows([2, 3], tag="x")], "b1": [rows([9])]},)),
        ("merge", (rows([3, 4], tag="m"), ["id"], "main")),
    )
    assert [(ok, counters) for ok, _, counters in answers] == [(True, MaintenanceCounters())] * 3
    committed = answers[1][1]
    assert set(committed) == {"main", "b1"}
    assert (committed["main"].rows_inserted, committed["main"].rows_written) == (3, 3)
    assert answers[2][1] == CommitResult(answers[2][1].snapshot_id, 1, 1, 2)
    assert _ids(catalog) == [1, 2, 3, 4]
    assert _ids(catalog, "b1") == [1, 2, 3, 9]  # branched from main as committed just before
    names = catalog.load_table("default.t").scan().to_arrow().sort_by("id").column("name").to_pylist()
    assert names == ["v1", "x2", "m3", "m4"]


def test_the_worker_expires_snapshots_after_replying_and_reports_it_next(
    home: Path, schema: Schema, rows: Rows
) -> None:
    catalog = open_catalog(home)
    table = ensure_table(catalog, "default.t", schema)
    table.transaction().set_properties({MAX_SNAPSHOTS_PROPERTY: "1"}).commit_transaction()
    factory = functools.partial(open_catalog, home)
    commits = [("commit", ({"main": [rows([i])]},)) for i in range(8)]
    answers = _exchange(("open", (factory, "default.t", [], False)), *commits)
    # A pass is due once the snapshots exceed the limit of 1 by the margin of 5: after the 7th
    # commit, whose reply went out first; the 8th reply reports it.
    assert [(c.snapshots_expired, c.expiry_failures) for _, _, c in answers] == [(0, 0)] * 8 + [(6, 0)]
    assert len(catalog.load_table("default.t").metadata.snapshots) == 2
    assert _ids(catalog) == list(range(8))


def test_the_worker_answers_errors_and_goes_on(home: Path, schema: Schema, rows: Rows) -> None:
    ensure_table(open_catalog(home), "default.t", schema)
    factory = functools.partial(open_catalog, home)
    answers = _exchange(
        ("commit", ({"main": [rows([1])]},)),
        ("open", (factory, "default.missing", [], False)),
        ("open", (factory, "default.t", [], False)),
        ("commit", ({"main": [pa.table({"id": [1], "oops": [1]})]},)),
        ("vacuum", ()),
        ("commit", ({"main": [rows([5])]},)),
    )
    assert [ok for ok, _, _ in answers] == [False, False, True, False, False, True]
    with pytest.raises(RuntimeError, match=r"commit process: 'commit' before 'open'"):
        raise answers[0][1]
    assert isinstance(answers[1][1], NoSuchTableError)
    with pytest.raises(ValueError, match=r"columns \['oops'\] are not in the table schema"):
        raise answers[3][1]
    with pytest.raises(RuntimeError, match=r"commit process: no operation 'vacuum'"):
        raise answers[4][1]
    assert answers[5][1]["main"].rows_written == 1


def test_a_failed_retention_pass_is_counted_and_the_commits_go_on(
    home: Path, schema: Schema, rows: Rows, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = open_catalog(home)
    table = ensure_table(catalog, "default.t", schema)
    table.transaction().set_properties({MAX_SNAPSHOTS_PROPERTY: "many"}).commit_transaction()
    factory = functools.partial(open_catalog, home)
    answers = _exchange(("open", (factory, "default.t", [], False)),
                        ("commit", ({"main": [rows([1])]},)), ("commit", ({"main": [rows([2])]},)))
    assert [(ok, c.snapshots_expired, c.expiry_failures) for ok, _, c in answers] == [(True, 0, 0), (True, 0, 0), (True, 0, 1)]
    assert "cascade.history.max-snapshots' must be an integer, got 'many'" in caplog.text
    assert _ids(catalog) == [1, 2]


def test_read_message_at_the_end_of_input_raises_eof() -> None:
    with pytest.raises(EOFError, match="the writer closed the pipe"):
        read_message(io.BytesIO(b""))
    with pytest.raises(EOFError, match="mid-message"):
        read_message(io.BytesIO(encode_message("x")[:-1]))


def test_only_a_picklable_catalog_factory_reaches_a_commit_process(catalog: Catalog, home: Path) -> None:
    with pytest.raises(TypeError, match=r"TableWriter\('default\.t', commit_process=True\) needs a picklable "
                                        r"catalog factory, .* not a EmbeddedCatalog"):
        check_catalog_source("default.t", catalog)
    with pytest.raises(TypeError, match=r"the catalog factory does not pickle .*functools\.partial"):
        check_catalog_source("default.t", lambda: open_catalog(home))
    check_catalog_source("default.t", functools.partial(open_catalog, home))


# -- a real child process ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_commit_process_commits_and_exits_when_closed(home: Path, schema: Schema, rows: Rows) -> None:
    catalog = open_catalog(home)
    ensure_table(catalog, "default.t", schema)
    with anyio.fail_after(60):
        process = await CommitProcess.start(
            "default.t", functools.partial(open_catalog, home), key_fields=["id"], deduplicate=True
        )
        try:
            results = await anyio.to_thread.run_sync(process.commit, {"main": [rows([1, 2]), rows([2, 3], tag="x")]})
            merged = await anyio.to_thread.run_sync(process.merge, rows([3], tag="m"), [], "side")
            assert (process.expired, process.expiry_failures) == (0, 0)
        finally:
            await process.aclose()
    assert (results["main"].rows_inserted, results["main"].rows_written) == (3, 3)
    assert merged.rows_written == 1
    assert process._process.returncode == 0
    await process.aclose()  # a second close closes no file descriptor again
    assert _ids(catalog) == [1, 2, 3]
    assert _ids(catalog, "side") == [1, 2, 3, 3]
    with pytest.raises(CommitProcessError, match=r"^commit process of table 'default\.t': closed$"):
        process.commit({"main": [rows([7])]})


@pytest.mark.anyio
async def test_a_commit_process_that_died_fails_the_commit_naming_the_table(
    home: Path, schema: Schema, rows: Rows
) -> None:
    ensure_table(open_catalog(home), "default.t", schema)
    with anyio.fail_after(60):
        process = await CommitProcess.start("default.t", functools.partial(open_catalog, home), key_fields=[],
                                            deduplicate=False)
        try:
            os.kill(process.pid, signal.SIGKILL)
            await process._process.wait()
            with pytest.raises(CommitProcessError,
                               match=r"commit process of table 'default\.t': the process ended \(exit status -9\) "
                                     r"during 'commit'"):
                await anyio.to_thread.run_sync(process.commit, {"main": [rows([1])]})
            with pytest.raises(CommitProcessError, match=r"'commit' did not complete"):
                process.merge(rows([2]), [], "main")
        finally:
            await process.aclose()


@pytest.mark.anyio
async def test_a_commit_process_for_a_missing_table_fails_to_start(home: Path) -> None:
    open_catalog(home)
    with anyio.fail_after(60), pytest.raises(NoSuchTableError, match=r"default\.nope"):
        await CommitProcess.start("default.nope", functools.partial(open_catalog, home), key_fields=[],
                                  deduplicate=False)


# -- the writer --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_writer_commits_out_of_process_and_restarts_when_the_process_dies(
    home: Path, schema: Schema, rows: Rows
) -> None:
    opts: dict[str, Any] = {"catalog": functools.partial(open_catalog, home), "identifier": "default.t",
                            "schema": schema, "max_delay": 600, "deduplicate": True, "commit_process": True}
    with anyio.fail_after(120):
        async with ActorSystem("t", backoff=Backoff(initial=0.01, maximum=0.05)) as system:
            ref = await system.spawn(TableWriter, name="w", **opts)
            first = Promise[CommitResult]()
            await ref.tell(Write(rows([1, 2]), first))
            await ref.tell(Flush())
            assert (await first.wait()).rows_written == 2
            await ref.ask(Stats())  # the writer is idle: its retention pass is over
            (child,) = commit_processes()
            os.kill(child, signal.SIGKILL)

            lost = Promise[CommitResult]()
            await ref.tell(Write(rows([3]), lost))
            await ref.tell(Flush())
            with pytest.raises(CommitProcessError,
                               match=r"table 'default\.t': the process ended \(exit status -9\) during 'commit'"):
                await lost.wait()

            kept = Promise[CommitResult]()
            await ref.tell(Write(rows([2, 4], tag="k"), kept))
            merged = Promise[CommitResult]()
            await ref.tell(Merge(rows([5]), promise=merged))
            assert (await kept.wait()).rows_updated == 1
            assert (await merged.wait()).rows_inserted == 1
            stats = await ref.ask(Stats())
            assert (stats.commits, stats.failed_commits) == (2, 0)  # counted since the restart
            assert ref.statistics().restarts == 1
            assert len(commit_processes()) == 1
            assert commit_processes() != [child]
        assert commit_processes() == []  # stopping the writer ended its process
    assert _ids(open_catalog(home)) == [1, 2, 4, 5]


@pytest.mark.anyio
async def test_the_writer_reports_the_retention_passes_of_its_process(home: Path, schema: Schema, rows: Rows) -> None:
    table = ensure_table(open_catalog(home), "default.t", schema)
    table.transaction().set_properties({MAX_SNAPSHOTS_PROPERTY: "1"}).commit_transaction()
    opts: dict[str, Any] = {"catalog": functools.partial(open_catalog, home), "identifier": "default.t",
                            "schema": schema, "max_delay": 600, "commit_process": True}
    with anyio.fail_after(120):
        async with ActorSystem("t") as system:
            ref = await system.spawn(TableWriter, name="w", **opts)
            for i in range(9):  # the pass after the 7th commit shows in the 8th commit's reply
                await ref.tell(Write(rows([i])))
                await ref.ask(Flush())
            stats = await ref.ask(Stats())
    assert (stats.commits, stats.snapshots_expired, stats.expiry_failures) == (9, 6, 0)
    assert _ids(open_catalog(home)) == list(range(9))
