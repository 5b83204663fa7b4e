"""``cascade-rt run / assets / runs / branch``: batch assets from the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ._output import is_terminal, print_json, print_table

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Cascade home (default: $CASCADE_HOME or ./.cascade).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON array of objects instead of a table.")]


def register(app: typer.Typer) -> None:
    """Add the asset commands (``run``, ``assets``, ``runs``, ``branch ...``) to ``app``."""
    app.command("run", help="Run an asset for one partition or a range of dates (backfill).")(run_command)
    app.command("assets", help="List an app's assets: group, schedule, last run, freshness.")(assets_command)
    app.command("runs", help="Show the run history (of one asset when given).")(runs_command)
    branch = typer.Typer(
        help="Iceberg branches written by asset runs (write-audit-publish).", no_args_is_help=True
    )
    branch.command("list", help="Branches written by runs, with their tables and state.")(branch_list_command)
    branch.command("publish", help="Fast-forward main of every table written on the branch.")(
        branch_publish_command
    )
    branch.command("drop", help="Drop the branch from every table written on it.")(branch_drop_command)
    app.add_typer(branch, name="branch")


def _progress_console() -> Console:
    return Console(highlight=False, soft_wrap=True, stderr=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _runner(home: Path | None) -> Any:
    from ..ingestion import AssetRunner

    return AssetRunner(home=home)


def _load(app: str) -> None:
    from ..ingestion import load_app

    try:
        load_app(app)
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise _fail(str(exc)) from None


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option} must be a date as YYYY-MM-DD, got {value!r}") from None


def run_command(
    app: Annotated[str, typer.Argument(help="The app: a .py file or a module name.")],
    asset: Annotated[str, typer.Argument(help="The asset name.")],
    partition: Annotated[
        str | None, typer.Option("--partition", help="Partition date YYYY-MM-DD (default: today, UTC).")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="Backfill: first date.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Backfill: last date (inclusive).")] = None,
    branch: Annotated[str, typer.Option("--branch", help="Iceberg branch to write.")] = "main",
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run ``asset`` of ``app`` once, or for every date of ``--from``..``--to``; exit 1 if a run failed."""
    import anyio

    _load(app)
    if partition is not None and (start or end):
        raise _fail("give either --partition or --from/--to, not both")
    if bool(start) != bool(end):
        raise _fail("a backfill needs both --from and --to")
    first, last, day = _date(start, "--from"), _date(end, "--to"), _date(partition, "--partition")
    runner = _runner(home)
    try:
        runner.asset(asset)
    except KeyError as exc:
        raise _fail(exc.args[0]) from None
    if first is not None and last is not None:
        if last < first:
            raise _fail(f"--from {first} is after --to {last}")
        days = (last - first).days + 1
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_progress_console(),
            disable=as_json,
        ) as progress:
            task = progress.add_task(f"{asset} {first}..{last}", total=days)
            results = anyio.run(
                lambda: runner.backfill(
                    asset, first, last, branch=branch, on_result=lambda r: progress.advance(task)
                )
            )
    else:
        results = [anyio.run(lambda: runner.run_asset(asset, partition_date=day, branch=branch))]
    if as_json:
        print_json([r.to_dict() for r in results])
    else:
        _print_results(results)
    if any(not r.ok for r in results):
        raise typer.Exit(code=1)


def _print_results(results: list[Any]) -> None:
    ok = sum(r.ok for r in results)
    summary = f"{ok} succeeded, {len(results) - ok} failed; {sum(r.rows_loaded for r in results if r.ok)} rows loaded"
    print_table(
        ("partition", "status", "branch", "loaded", "inserted", "updated", "seconds"),
        [
            (r.partition_date, r.status, r.branch, r.rows_loaded, r.rows_inserted, r.rows_updated,
             f"{r.total_elapsed_seconds:.2f}")
            for r in results
        ],
        title=f"{len(results)} run(s)",
        notes=[summary, *(f"{r.partition_date}: {r.error}" for r in results if r.error)],
        style=_style,
        right=("loaded", "inserted", "updated", "seconds"),
    )


def _status(status: str) -> str:
    color = {
        "success": "green",
        "failed": "red",
        "timed_out": "red",
        "fresh": "green",
        "warn": "yellow",
        "fail": "red",
    }.get(status, "white")
    return f"[{color}]{status}[/{color}]"


def _style(column: str, text: str) -> str:
    """Colours the status a cell starts with (``status``, ``last run``, ``freshness``) on a terminal."""
    if column not in ("status", "last run", "freshness"):
        return text
    word, space, rest = text.partition(" ")
    return _status(word) + space + rest


def assets_command(
    app: Annotated[str, typer.Argument(help="The app: a .py file or a module name.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the assets ``app`` declares with group, schedule, last run and freshness."""
    from ..ingestion import freshness

    _load(app)
    runner = _runner(home)
    now = datetime.now(UTC)
    rows = []
    for asset in runner.assets():
        last = runner.history.last_run(asset.name)
        fresh = freshness(asset, runner.history, now)
        rows.append(
            {
                "asset": asset.name,
                "group": asset.group,
                "table": asset.identifier,
                "cron": asset.cron,
                "last_run": None
                if last is None
                else {
                    "status": last.status,
                    "partition_date": last.result.partition_date,
                    "finished_at": last.finished_at.isoformat(),
                },
                "freshness": fresh.to_dict(),
            }
        )
    if as_json:
        print_json(rows)
        return
    cells = []
    for row in rows:
        last = row["last_run"]
        last_text = (
            "never" if last is None else f"{last['status']} {last['partition_date']} ({last['finished_at'][:19]})"
        )
        fresh = row["freshness"]
        age = "" if fresh["age_hours"] is None else f" ({fresh['age_hours']:.1f} h)"
        cells.append((row["asset"], row["group"], row["table"], row["cron"] or "-", last_text, fresh["status"] + age))
    print_table(
        ("asset", "group", "table", "schedule", "last run", "freshness"),
        cells,
        title=f"{len(rows)} asset(s)",
        style=_style,
    )


def runs_command(
    asset: Annotated[str | None, typer.Argument(help="Only this asset's runs.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many runs, newest first.")] = 20,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the run history, newest first."""
    from ..ingestion import RunHistory
    from ..table import resolve_home

    history = RunHistory.at_home(resolve_home(home))
    records = history.runs(asset, limit=limit)
    if as_json:
        print_json(
            [
                {
                    **r.result.to_dict(),
                    "trigger": r.trigger,
                    "started_at": r.started_at.isoformat(),
                    "finished_at": r.finished_at.isoformat(),
                }
                for r in records
            ]
        )
        return
    terminal = is_terminal()
    print_table(
        ("id", "asset", "partition", "branch", "status", "trigger", "rows", "finished"),
        [
            (
                rec.result.run_id,
                rec.result.asset,
                rec.result.partition_date,
                rec.result.branch,
                rec.result.status,
                rec.trigger,
                f"{rec.result.rows_loaded} (+{rec.result.rows_inserted} ~{rec.result.rows_updated})",
                # Whole timestamps where a program reads them; the short form on a terminal.
                rec.finished_at.strftime("%m-%d %H:%M") if terminal else rec.finished_at.isoformat(),
            )
            for rec in records
        ],
        title=f"{len(records)} run(s)" + (f" of {asset}" if asset else ""),
        notes=[
            f"run {rec.result.run_id}: {rec.result.error[:300] if terminal else rec.result.error}"
            for rec in records
            if rec.result.error
        ],
        style=_style,
    )


def branch_list_command(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List the branches written by asset runs, with each table's state."""
    from ..ingestion import RunHistory
    from ..table import resolve_home

    branches = RunHistory.at_home(resolve_home(home)).branches()
    if as_json:
        print_json(branches)
        return
    print_table(
        ("branch", "tables", "updated"),
        [
            (b["branch"], ", ".join(f"{name} ({state})" for name, state in b["tables"].items()), b["updated_at"][:19])
            for b in branches
        ],
        title=f"{len(branches)} branch(es)",
    )


def _branch_tables(home: Path | None, name: str, action: str) -> tuple[Any, Any, list[str]]:
    """Open the run history and the catalog of ``home``; return them with the tables on ``name``."""
    from ..ingestion import RunHistory
    from ..table import open_catalog, resolve_home

    root = resolve_home(home)
    history = RunHistory.at_home(root)
    if name == "main":
        raise _fail(f"cannot {action} main; name the branch the runs wrote (e.g. dev)")
    tables: list[str] = history.branch_tables(name)
    if not tables:
        raise _fail(f"no table was written on branch {name!r} (or it was already published or dropped)")
    return history, open_catalog(root), tables


def branch_publish_command(
    name: Annotated[str, typer.Argument(help="The branch to publish.")], home: HomeOption = None
) -> None:
    """Fast-forward main to ``name`` on every table written on it (write-audit-publish)."""
    from ..table import publish_branch

    history, catalog, tables = _branch_tables(home, name, "publish")
    for identifier in tables:
        try:
            head = publish_branch(catalog.load_table(identifier), name)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        history.mark_branch(name, identifier, "published", snapshot_id=head)
        typer.echo(f"published {name} -> main on {identifier} (snapshot {head})")


def branch_drop_command(
    name: Annotated[str, typer.Argument(help="The branch to drop.")], home: HomeOption = None
) -> None:
    """Drop ``name`` from every table written on it (main is untouched)."""
    from ..table import drop_branch

    history, catalog, tables = _branch_tables(home, name, "drop")
    for identifier in tables:
        drop_branch(catalog.load_table(identifier), name)
        history.mark_branch(name, identifier, "dropped")
        typer.echo(f"dropped branch {name} of {identifier}")
