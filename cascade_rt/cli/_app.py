"""``cascade-rt``: serve an app, list what it declares, read tables and query them.

The asset commands (``run``, ``assets``, ``runs``, ``branch``) join from ``_assets``.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console

from ._output import print_json, print_table

GC_THRESHOLD = 50_000
"""``cascade-rt serve``'s young-generation collection threshold (see ``_serve``)."""


def raise_file_limit() -> int:
    """Raises this process's soft limit of open files to its hard limit (each keep-alive
    connection holds one; the usual soft limit of 1,024 is below what an ingest server serves).
    Returns the soft limit in force; where it cannot be changed, the one there was."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Unix
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft
    return wanted

app = typer.Typer(
    name="cascade-rt",
    help="Streaming ingestion on an in-process actor model: HTTP ingest, streams, Iceberg tables, dlt assets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

AppArg = Annotated[str, typer.Argument(help="The app: a .py file or a module name.")]
HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="The cascade home (default: $CASCADE_HOME or ./.cascade).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON array of objects instead of a table.")]


def load(app_ref: str) -> Any:
    """Imports the user's app so its declarations register; exits 2 with the reason if it fails."""
    from ..ingestion import load_app

    try:
        return load_app(app_ref)
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def run_async(fn: Any, *args: Any) -> Any:
    """Runs ``fn(*args)`` on asyncio, with uvloop when it is installed."""
    try:
        import uvloop  # noqa: F401

        options = {"use_uvloop": True}
    except ImportError:  # pragma: no cover - uvloop is a Linux/macOS dependency
        options = {}
    return anyio.run(fn, *args, backend="asyncio", backend_options=options)


@app.command()
def serve(
    app_ref: AppArg,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0: a free one).")] = 4000,
    workers: Annotated[int, typer.Option(min=1, help="Processes sharing the port (streams must be on Kafka).")] = 1,
    home: HomeOpt = None,
    commit_process: Annotated[bool, typer.Option(
        help="Commit each table in a process of its own (off: in a thread of the server's process).")] = True,
    gc_threshold: Annotated[int, typer.Option(
        min=0, help="Allocations between young-generation garbage collections (0: Python's default, 700).")
    ] = GC_THRESHOLD,
    role: Annotated[str, typer.Option(hidden=True)] = "all",
) -> None:
    """Runs every pipeline, table, stream, API and asset of APP, with the HTTP API and the scheduler."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_file_limit()
    if workers > 1 and not os.environ.get("CASCADE_KAFKA_BOOTSTRAP"):
        console.print(
            "[red]error:[/red] --workers N runs N processes that must share streams through Kafka; "
            "set CASCADE_KAFKA_BOOTSTRAP=host:port (or run one worker)"
        )
        raise typer.Exit(2)
    load(app_ref)
    extra: list[subprocess.Popen[bytes]] = []
    if workers > 1:
        if port == 0:
            console.print("[red]error:[/red] --workers N needs a fixed --port for the processes to share")
            raise typer.Exit(2)
        command = [sys.executable, "-m", "cascade_rt.cli", "serve", app_ref, "--host", host, "--port", str(port),
                   "--gc-threshold", str(gc_threshold), "--role", "ingest"]
        if home is not None:
            command += ["--home", str(home)]
        extra = [subprocess.Popen(command) for _ in range(workers - 1)]
    try:
        run_async(_serve, host, port, home, role, workers > 1 or role != "all", commit_process, gc_threshold)
    finally:
        for proc in extra:
            proc.send_signal(signal.SIGTERM)
        for proc in extra:
            proc.wait(timeout=60)


async def _serve(host: str, port: int, home: Path | None, role: str, reuse_port: bool, commit_process: bool,
                 gc_threshold: int) -> None:
    from ..runtime import Runtime

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with Runtime(home, schedule=role == "all", role=role, commit_process=commit_process) as rt:
            bound = await rt.serve(host, port, reuse_port=reuse_port)
            # Everything loaded at start-up (pyiceberg, pyarrow, pandas, the app) lives as long as
            # the process: freezing it keeps the collector from re-scanning it at every full
            # collection, which the allocations of thousands of requests in flight trigger often.
            gc.collect()
            gc.freeze()
            # Each young collection walks every object allocated since the last one and still
            # alive, and a server holding a thousand requests in flight (each waiting for its
            # commit) holds tens of thousands: at Python's default of one collection per 700
            # allocations the collector took a tenth to a sixth of the CPU of single-record ingest.
            if gc_threshold:
                gc.set_threshold(gc_threshold, *gc.get_threshold()[1:])
            apis = ", ".join(sorted(e.api.path for e in rt.endpoints.values())) or "no ingest APIs"
            console.print(f"cascade-rt serving on http://{host}:{bound} ({apis}); home {rt.home}", highlight=False)
            async for signum in signals:
                console.print(f"received {signal.Signals(signum).name}: draining", highlight=False)
                break


@app.command("ls")
def list_definitions(app_ref: AppArg, as_json: JsonOpt = False) -> None:
    """Lists the pipelines, tables, streams, ingest APIs, dead-letter queues, query APIs and assets of APP."""
    from .._registry import default_registry

    load(app_ref)
    rows = [(kind.replace("_", " "), name, describe(kind, decl)) for kind, name, decl in default_registry()]
    if as_json:
        print_json([dict(zip(("kind", "name", "details"), row, strict=True)) for row in rows])
        return
    print_table(("kind", "name", "details"), rows)


def describe(kind: str, decl: Any) -> str:
    """One line about a declaration, for ``ls``."""
    if kind == "pipeline":
        return ", ".join(role for role, part in decl.parts().items() if part is not None)
    if kind == "table":
        cfg = decl.config
        bits = [".".join(decl.identifier)]
        if cfg.order_by_fields:
            bits.append("order by " + ", ".join(cfg.order_by_fields))
        if cfg.deduplicate:
            bits.append("dedup on " + ", ".join(decl.schema.key_fields))
        if cfg.version_column:
            deleted = f", deleted {cfg.deleted_column}" if cfg.deleted_column else ""
            bits.append(f"version {cfg.version_column}{deleted}")
        if cfg.ttl:
            bits.append(f"ttl {cfg.ttl}")
        return "; ".join(bits)
    if kind == "stream":
        dest = decl.destination
        to = f" → {getattr(dest, 'table_name', dest)}" if dest is not None else ""
        return f"{decl.config.parallelism} partitions, retention {decl.config.retention_period}s{to}"
    if kind == "ingest_api":
        dest = decl.destination
        name = getattr(dest, "stream_name", None) or getattr(dest, "table_name", None) or dest
        return f"POST {decl.path} ({decl.format or 'JSON or JSON_ARRAY'}) → {name}"
    if kind == "asset":
        return str(getattr(decl, "describe", lambda: "")())
    if kind == "api":
        params = getattr(decl.params_type, "__name__", "?")
        result = getattr(decl.result_type, "__name__", "?")
        return f"GET {decl.path} ({params} → {result})"
    return ""


@app.command()
def peek(
    name: Annotated[str, typer.Argument(help="A table: NAME (namespace default) or NAMESPACE.NAME.")],
    n: Annotated[int, typer.Option("-n", "--limit", min=1, help="Rows to show.")] = 10,
    branch: Annotated[str, typer.Option(help="The branch to read.")] = "main",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Shows the first rows of a table."""
    from ._tables import load_table

    table = load_table(home, name)
    identifier = table.name()
    scan = table.scan(limit=n)
    if branch != "main":
        scan = scan.use_ref(branch)
    print_arrow(scan.to_arrow(), as_json=as_json, title=f"{'.'.join(identifier)} ({branch})")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the catalog's tables.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Runs SQL (DuckDB) over the catalog's tables."""
    from ..table import open_catalog, resolve_home
    from ..table import query as run_query

    result = run_query(open_catalog(resolve_home(home)), sql)
    print_arrow(result, as_json=as_json)


def print_arrow(data: Any, *, as_json: bool = False, title: str | None = None) -> None:
    """Prints an Arrow table by the CLI's rule (``_output``): a table, or a JSON array of objects."""
    rows = data.to_pylist()
    if as_json:
        print_json(rows)
        return
    print_table(data.column_names, [list(row.values()) for row in rows], title=title,
                notes=[f"{data.num_rows} row(s)"])


def _register_asset_commands() -> None:
    from . import _assets, _tables

    _assets.register(app)
    _tables.register(app)


_register_asset_commands()


def main() -> None:
    """The console script's entry point."""
    app()
