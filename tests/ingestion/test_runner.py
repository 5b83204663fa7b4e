"""Asset runs end to end: loopback REST server → dlt → Pandera → Iceberg (SQLite catalog in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import anyio
import ingestion_shop_app as shop
import pyarrow as pa
import pytest
from ingestion_rest_server import RestServer, make_items
from prometheus_client import CollectorRegistry
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.types import LongType, StringType, TimestamptzType

from cascade_rt.ingestion import AssetRunner, IngestionResult
from cascade_rt.ingestion._extract import pipeline_lock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    # The runs are backend-neutral (worker threads); one backend keeps the dlt-heavy tests fast.
    # test_timeout_cancels_on_every_backend covers the thread/cancel machinery on all three.
    return ("asyncio", {})


def reader(home: Path) -> SqlCatalog:
    """An independent catalog on the same database (a new SqlCatalog, not the runner's)."""
    return SqlCatalog(
        "cascade", uri=f"sqlite:///{home / 'catalog.db'}", warehouse=(home / "warehouse").as_uri()
    )


def rows(home: Path, identifier: str, branch: str | None = None) -> pa.Table:
    table = reader(home).load_table(identifier)
    scan = table.scan()
    if branch:
        scan = scan.use_ref(branch)
    return scan.to_arrow().sort_by("id")


@pytest.fixture
def runner(tmp_path: Path) -> AssetRunner:
    return AssetRunner(home=tmp_path, metrics=CollectorRegistry())


async def test_rest_api_source_asset_loads_every_page_into_iceberg(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    result = await runner.run_asset("items", partition_date="2024-03-01")
    assert result.error is None
    assert (result.status, result.table, result.branch, result.partition_date) == (
        "success",
        "raw.items",
        "main",
        "2024-03-01",
    )
    assert (result.rows_loaded, result.rows_inserted, result.rows_updated) == (25, 25, 0)
    assert result.snapshot_id is not None
    assert result.dlt_elapsed_seconds > 0
    assert sum("page=" in r or r.startswith("/items") for r in rest_server.requests) == 3
    assert all("date=2024-03-01" in r for r in rest_server.requests)

    table = reader(tmp_path).load_table("raw.items")
    fields = {f.name: f for f in table.schema().fields}
    assert [(f.field_id, f.name) for f in table.schema().fields] == [
        (1, "id"),
        (2, "created_at"),
        (3, "value"),
        (4, "status"),
        (100, "_dlt_load_id"),
        (101, "_dlt_id"),
        (102, "_cascade_ingested_at"),
    ]
    assert fields["id"].field_type == StringType()
    assert fields["id"].required
    assert fields["id"].doc == "Unique identifier"
    assert fields["created_at"].field_type == TimestamptzType()
    assert fields["value"].field_type == LongType()
    assert fields["value"].doc == "Data value"
    assert not fields["status"].required
    assert fields["_dlt_load_id"].required
    assert fields["_dlt_id"].required
    assert fields["_cascade_ingested_at"].field_type == TimestamptzType()

    data = rows(tmp_path, "raw.items")
    assert data.num_rows == 25
    assert data.column("id").to_pylist()[:3] == ["i000", "i001", "i002"]
    # 02:00+02:00 is midnight UTC: the offset was applied, not dropped
    assert data.column("created_at")[2].as_py().isoformat() == "2024-01-01T00:00:00+00:00"
    assert data.column("_dlt_load_id").unique().to_pylist() == [result.load_id]
    assert len(set(data.column("_dlt_id").to_pylist())) == 25
    assert data.column("_cascade_ingested_at").null_count == 0


async def test_rest_api_keyword_form_runs(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    result = await runner.run_asset("items_kw", partition_date="2024-03-01")
    assert (result.status, result.table, result.rows_inserted) == ("success", "raw.items_kw", 25)
    assert rows(tmp_path, "raw.items_kw").num_rows == 25


async def test_rerun_of_same_partition_changes_nothing(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    await runner.run_asset("items", partition_date="2024-03-01")
    before = rows(tmp_path, "raw.items").drop_columns(["_dlt_load_id", "_dlt_id", "_cascade_ingested_at"])
    again = await runner.run_asset("items", partition_date="2024-03-01")
    after = rows(tmp_path, "raw.items").drop_columns(["_dlt_load_id", "_dlt_id", "_cascade_ingested_at"])
    assert (again.status, again.rows_inserted, again.rows_updated) == ("success", 0, 25)
    assert after.equals(before)


async def test_merge_updates_existing_keys_inserts_new_and_last_duplicate_wins(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    await runner.run_asset("items", partition_date="2024-03-01")
    rest_server.items = [
        *make_items(5, value=7),
        *make_items(30, value=9)[25:],
        {**make_items(1)[0], "value": 42},
    ]
    result = await runner.run_asset("items", partition_date="2024-03-02")
    assert (result.rows_loaded, result.rows_inserted, result.rows_updated) == (11, 5, 5)
    data = rows(tmp_path, "raw.items")
    values = dict(zip(data.column("id").to_pylist(), data.column("value").to_pylist(), strict=True))
    assert len(values) == 30
    assert data.num_rows == 30
    assert values["i000"] == 42  # the last of two rows with the same key
    assert values["i001"] == 7
    assert values["i010"] == 1
    assert values["i027"] == 9


async def test_incremental_resource_fetches_only_new_items_on_next_run(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    rest_server.events = [{"id": f"e{i}", "seq": i} for i in range(1, 4)]
    first = await runner.run_asset("events", partition_date="2024-03-01")
    rest_server.events.append({"id": "e4", "seq": 4})
    second = await runner.run_asset("events", partition_date="2024-03-02")
    assert (first.rows_loaded, second.rows_loaded, second.rows_inserted) == (3, 1, 1)
    assert rest_server.requests[-1] == "/events?since=3"
    assert rows(tmp_path, "raw.events").column("id").to_pylist() == ["e1", "e2", "e3", "e4"]


async def test_failed_run_keeps_incremental_state_so_items_are_fetched_again(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    rest_server.events = [{"id": "e1", "seq": 1}, {"id": None, "seq": 2}]  # a null id fails validation
    bad = await runner.run_asset("events", partition_date="2024-03-01")
    assert bad.status == "failed"
    assert bad.failures == [{"column": "id", "check": "not_nullable", "value": None, "row": 1}]
    rest_server.events[1] = {"id": "e2", "seq": 2}
    good = await runner.run_asset("events", partition_date="2024-03-01")
    assert (good.status, good.rows_loaded) == ("success", 2)
    assert rest_server.requests[-1] == "/events?since=0"


async def test_branch_run_leaves_main_untouched(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    await runner.run_asset("items", partition_date="2024-03-01")
    rest_server.items = make_items(3, value=50)
    result = await runner.run_asset("items", partition_date="2024-03-02", branch="dev")
    assert (result.status, result.branch, result.rows_updated) == ("success", "dev", 3)
    assert set(rows(tmp_path, "raw.items").column("value").to_pylist()) == {1}
    dev = rows(tmp_path, "raw.items", branch="dev")
    assert dev.num_rows == 25
    assert dev.column("value").to_pylist()[:3] == [50, 50, 50]
    assert runner.history.branch_tables("dev") == ["raw.items"]


async def test_validation_failure_writes_nothing_and_names_column_check_value(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    rest_server.items = make_items(4)
    rest_server.items[2]["value"] = 500
    result = await runner.run_asset("items", partition_date="2024-03-01")
    assert result.status == "failed"
    assert result.attempts == 1
    assert result.snapshot_id is None
    assert result.error is not None
    assert "column 'value' failed less_than_or_equal_to(100) with value 500 (row 2)" in result.error
    assert result.failures == [
        {"column": "value", "check": "less_than_or_equal_to(100)", "value": 500, "row": 2}
    ]
    assert (
        "raw.items" not in [".".join(t) for t in reader(tmp_path).list_tables("raw")]
        if reader(tmp_path).namespace_exists("raw")
        else True
    )
    recorded = runner.history.last_run("items")
    assert recorded is not None
    assert recorded.result.failures == result.failures


async def test_wrong_type_is_a_validation_failure_naming_the_row(
    runner: AssetRunner, rest_server: RestServer
) -> None:
    rest_server.items = make_items(3)
    rest_server.items[1]["created_at"] = "2024-01-01T00:00:00"  # naive: rejected
    result = await runner.run_asset("items", partition_date="2024-03-01")
    assert result.status == "failed"
    assert result.failures == [
        {
            "column": "created_at",
            "check": "dtype('timestamp[us, tz=UTC]')",
            "value": "2024-01-01T00:00:00",
            "row": 1,
        }
    ]


async def test_validate_false_skips_pandera(tmp_path: Path, rest_server: RestServer) -> None:
    from cascade_rt.ingestion._decorator import IngestionAsset

    base = AssetRunner(home=tmp_path).asset("items")
    lax = IngestionAsset(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, "validate": False})
    rest_server.items = make_items(2)
    rest_server.items[0]["value"] = 500
    runner = AssetRunner(home=tmp_path, assets={"items": lax})
    result = await runner.run_asset("items", partition_date="2024-03-01")
    assert (result.status, result.rows_inserted) == ("success", 2)


async def test_flaky_source_succeeds_after_retries(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    shop.STATE["fail_times"] = 2
    try:
        result = await runner.run_asset("flaky", partition_date="2024-03-01")
    finally:
        shop.STATE["fail_times"] = 0
    assert (result.status, result.attempts, result.rows_inserted) == ("success", 3, 2)
    assert shop.STATE["calls"] == 3


async def test_source_failing_every_attempt_reports_the_last_error(
    runner: AssetRunner, rest_server: RestServer
) -> None:
    shop.STATE["fail_times"] = 99
    try:
        result = await runner.run_asset("flaky", partition_date="2024-03-01")
    finally:
        shop.STATE["fail_times"] = 0
    assert (result.status, result.attempts) == ("failed", 4)
    assert result.error is not None
    assert "upstream unavailable (call 4)" in result.error


async def test_seed_rest_api_dict_form_fails_with_plain_words(
    runner: AssetRunner, rest_server: RestServer
) -> None:
    result = await runner.run_asset("items_seed_form", partition_date="2024-03-01")
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.error is not None
    assert "dict lands in its `client` parameter and dlt reports `resources` missing" in result.error
    assert "rest_api_source({...})" in result.error
    assert "rest_api(**{...})" in result.error


async def test_plain_rows_are_deduplicated_last_wins(runner: AssetRunner, tmp_path: Path) -> None:
    result = await runner.run_asset("plain_rows", partition_date="2024-03-01")
    assert (result.rows_loaded, result.rows_inserted) == (3, 2)
    data = rows(tmp_path, "raw.plain")
    assert data.column("seq").to_pylist() == [2, 3]


async def test_hanging_source_is_cancelled_and_commits_nothing(
    runner: AssetRunner, rest_server: RestServer, tmp_path: Path
) -> None:
    shop.STATE["release"].clear()
    with anyio.fail_after(10):
        result = await runner.run_asset("hanging", partition_date="2024-03-01")
    shop.STATE["release"].set()
    assert result.status == "timed_out"
    assert (
        result.error
        == "asset 'hanging': run exceeded max_runtime_seconds=0.3 and was cancelled; nothing was committed"
    )
    lock = pipeline_lock(str(tmp_path / "dlt" / "hanging"))
    assert lock.acquire(timeout=10)  # the abandoned worker noticed the cancel and let go
    lock.release()
    assert not reader(tmp_path).table_exists("raw.slow")
    assert runner.history.last_run("hanging").status == "timed_out"  # type: ignore[union-attr]


async def test_results_are_recorded_and_exported_as_metrics(tmp_path: Path, rest_server: RestServer) -> None:
    registry = CollectorRegistry()
    runner = AssetRunner(home=tmp_path, metrics=registry)
    result = await runner.run_asset("items", partition_date="2024-03-01")
    assert registry.get_sample_value("cascade_asset_runs_total", {"asset": "items", "status": "success"}) == 1
    assert registry.get_sample_value("cascade_asset_rows_total", {"asset": "items", "kind": "inserted"}) == 25
    assert (
        registry.get_sample_value("cascade_asset_stage_seconds_count", {"asset": "items", "stage": "total"})
        == 1
    )
    [record] = runner.history.runs("items")
    assert record.result == result
    assert record.trigger == "manual"
    assert (tmp_path / "runs.db").exists()
    assert list((tmp_path / "staging" / "items").iterdir()) == []  # staged batch removed after the commit


async def test_backfill_runs_every_date_in_order(runner: AssetRunner, rest_server: RestServer) -> None:
    seen: list[IngestionResult] = []
    results = await runner.backfill("plain_rows", "2024-02-28", "2024-03-01", on_result=seen.append)
    assert [r.partition_date for r in results] == ["2024-02-28", "2024-02-29", "2024-03-01"]
    assert seen == results
    assert all(r.ok for r in results)
    with pytest.raises(ValueError, match="backfill range is empty: 2024-03-02 is after 2024-03-01"):
        await runner.backfill("plain_rows", "2024-03-02", "2024-03-01")


async def test_unknown_asset_and_bad_partition_are_refused(runner: AssetRunner) -> None:
    with pytest.raises(KeyError, match="no asset named 'nope'; known assets: items, "):
        await runner.run_asset("nope")
    with pytest.raises(ValueError, match="partition_date must be YYYY-MM-DD, got '2024-13-01'"):
        await runner.run_asset("items", partition_date="2024-13-01")


async def test_merge_goes_through_the_given_writer(tmp_path: Path, rest_server: RestServer) -> None:
    from cascade_rt.table import commit_upsert

    calls = []

    async def merge(table, data, keys, branch):  # type: ignore[no-untyped-def]
        calls.append((table.name(), data.num_rows, list(keys), branch))
        return await anyio.to_thread.run_sync(lambda: commit_upsert(table, data, keys, branch=branch))

    runner = AssetRunner(home=tmp_path, merge=merge)
    result = await runner.run_asset("plain_rows", partition_date="2024-03-01", branch="dev")
    assert calls == [(("raw", "plain"), 2, ["id"], "dev")]
    assert (result.status, result.rows_inserted) == ("success", 2)


async def test_partition_spec_partitions_the_created_table(runner: AssetRunner, tmp_path: Path) -> None:
    result = await runner.run_asset("partitioned", partition_date="2024-03-01")
    assert (result.status, result.rows_inserted) == ("success", 2)
    table = reader(tmp_path).load_table("raw.daily")
    [field] = table.spec().fields
    assert (table.schema().find_column_name(field.source_id), str(field.transform)) == ("created_at", "day")
    days = {task.file.partition[0] for task in table.scan().plan_files()}
    assert len(days) == 2  # 23:30-02:00 on the 1st is the 2nd in UTC
