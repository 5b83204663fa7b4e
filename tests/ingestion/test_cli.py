"""``cascade-rt run / assets / runs / branch`` through typer's CliRunner (real runs, real catalog)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from ingestion_rest_server import RestServer, make_items
from pyiceberg.catalog.sql import SqlCatalog
from typer.testing import CliRunner

from cascade_rt.cli._assets import register

APP = str(Path(__file__).with_name("ingestion_shop_app.py"))


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def invoke(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))
    return result.exit_code, result.output


def values(home: Path, branch: str | None = None) -> list[int]:
    table = SqlCatalog("cascade", uri=f"sqlite:///{home / 'catalog.db'}").load_table("raw.items")
    scan = table.scan().use_ref(branch) if branch else table.scan()
    return sorted(set(scan.to_arrow().column("value").to_pylist()))


def test_run_one_partition_prints_the_result(
    cli: typer.Typer, rest_server: RestServer, tmp_path: Path
) -> None:
    code, out = invoke(cli, "run", APP, "items", "--partition", "2024-03-01", "--home", str(tmp_path))
    assert code == 0, out
    assert "2024-03-01" in out
    assert "success" in out
    assert "1 succeeded, 0 failed; 25 rows loaded" in out


def test_backfill_shows_progress_and_summary(
    cli: typer.Typer, rest_server: RestServer, tmp_path: Path
) -> None:
    code, out = invoke(
        cli, "run", APP, "plain_rows", "--from", "2024-02-28", "--to", "2024-03-01", "--home", str(tmp_path)
    )
    assert code == 0, out
    assert "plain_rows 2024-02-28..2024-03-01" in out
    assert "3/3" in out
    assert "3 run(s)" in out
    assert "3 succeeded, 0 failed; 9 rows loaded" in out
    code, out = invoke(cli, "runs", "plain_rows", "--home", str(tmp_path), "--json")
    assert code == 0
    assert [r["partition_date"] for r in json.loads(out)] == ["2024-03-01", "2024-02-29", "2024-02-28"]
    assert {r["trigger"] for r in json.loads(out)} == {"backfill"}


def test_failed_run_exits_1_with_the_error(cli: typer.Typer, rest_server: RestServer, tmp_path: Path) -> None:
    code, out = invoke(
        cli, "run", APP, "items_seed_form", "--partition", "2024-03-01", "--home", str(tmp_path)
    )
    assert code == 1
    assert "rest_api_source({...})" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--partition", "2024-03-01", "--from", "2024-03-01", "--to", "2024-03-02"],
            "give either --partition or --from/--to",
        ),
        (["--from", "2024-03-01"], "a backfill needs both --from and --to"),
        (["--partition", "March"], "--partition must be a date as YYYY-MM-DD, got 'March'"),
    ],
)
def test_run_refuses_bad_dates(cli: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["run", APP, "items", *args, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output


def test_run_names_unknown_app_and_asset(cli: typer.Typer, tmp_path: Path) -> None:
    code, out = invoke(cli, "run", str(tmp_path / "missing.py"), "items", "--home", str(tmp_path))
    assert code == 2
    assert "app file" in out
    assert "not found" in out
    code, out = invoke(cli, "run", APP, "nope", "--home", str(tmp_path))
    assert code == 2
    assert "no asset named 'nope'" in out


def test_assets_lists_group_schedule_last_run_and_freshness(
    cli: typer.Typer, rest_server: RestServer, tmp_path: Path
) -> None:
    invoke(cli, "run", APP, "items", "--partition", "2024-03-01", "--home", str(tmp_path))
    code, out = invoke(cli, "assets", APP, "--home", str(tmp_path), "--json")
    assert code == 0, out
    listed = {a["asset"]: a for a in json.loads(out)}
    assert listed["items"]["group"] == "shop"
    assert listed["items"]["cron"] == "0 */1 * * *"
    assert listed["items"]["last_run"]["status"] == "success"
    assert listed["items"]["freshness"]["status"] == "fresh"
    assert listed["events"]["last_run"] is None
    assert listed["events"]["freshness"]["status"] == "unknown"
    code, out = invoke(cli, "assets", APP, "--home", str(tmp_path))
    assert code == 0
    assert "items" in out
    assert "0 */1 * * *" in out
    assert "fresh" in out


def test_branch_publish_fast_forwards_main_and_drop_removes(
    cli: typer.Typer, rest_server: RestServer, tmp_path: Path
) -> None:
    home = str(tmp_path)
    invoke(cli, "run", APP, "items", "--partition", "2024-03-01", "--home", home)
    rest_server.items = make_items(25, value=60)
    code, out = invoke(
        cli, "run", APP, "items", "--partition", "2024-03-02", "--branch", "dev", "--home", home
    )
    assert code == 0, out
    assert values(tmp_path) == [1]
    assert values(tmp_path, "dev") == [60]
    code, out = invoke(cli, "branch", "list", "--home", home, "--json")
    assert json.loads(out) == [
        {"branch": "dev", "tables": {"raw.items": "open"}, "updated_at": json.loads(out)[0]["updated_at"]}
    ]
    code, out = invoke(cli, "branch", "publish", "dev", "--home", home)
    assert code == 0
    assert "published dev -> main on raw.items" in out
    assert values(tmp_path) == [60]
    code, out = invoke(cli, "branch", "publish", "dev", "--home", home)
    assert code == 2
    assert "no table was written on branch 'dev' (or it was already published or dropped)" in out

    rest_server.items = make_items(25, value=70)
    invoke(cli, "run", APP, "items", "--partition", "2024-03-03", "--branch", "tmp", "--home", home)
    code, out = invoke(cli, "branch", "drop", "tmp", "--home", home)
    assert code == 0
    assert "dropped branch tmp of raw.items" in out
    table = SqlCatalog("cascade", uri=f"sqlite:///{tmp_path / 'catalog.db'}").load_table("raw.items")
    assert "tmp" not in table.metadata.refs
    assert values(tmp_path) == [60]
    code, out = invoke(cli, "branch", "publish", "main", "--home", home)
    assert code == 2
    assert "cannot publish main" in out
