"""``cascade-rt table compact / expire / stats``: table maintenance from the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ._output import print_json, print_table

NameArg = Annotated[str, typer.Argument(help="A table: NAME (namespace default) or NAMESPACE.NAME.")]
HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="The cascade home (default: $CASCADE_HOME or ./.cascade).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def load_table(home: Path | None, name: str) -> Any:
    """The table ``name`` of the home's catalog; exits 1 naming the known tables when it is missing."""
    from ..table import open_catalog, resolve_home

    catalog = open_catalog(resolve_home(home))
    identifier = tuple(name.split(".", 1)) if "." in name else ("default", name)
    try:
        return catalog.load_table(identifier)
    except Exception as exc:  # NoSuchTableError, NoSuchNamespaceError
        known = [".".join(t) for ns in catalog.list_namespaces() for t in catalog.list_tables(ns)]
        Console().print(f"[red]error:[/red] {exc}; tables: {', '.join(known) or 'none'}")
        raise typer.Exit(1) from None


def _print(record: Any, title: str, as_json: bool) -> None:
    """One record: a ``field``/``value`` table by the CLI's rule (``_output``), or one JSON object."""
    values = dataclasses.asdict(record)
    if as_json:
        print_json(values)
        return
    print_table(("field", "value"), [(key, value) for key, value in values.items()], title=title)


def compact_command(name: NameArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Compacts a table now (a full pass): every small data file of a partition merged, every
    delete file folded, the manifests merged into one.

    One ``replace`` snapshot. A table served by ``cascade-rt serve`` compacts itself in its
    writer; run this on tables no server is writing (a commit racing it fails and is retried).
    """
    from ..table import compact

    _print(compact(load_table(home, name)), "compaction", as_json)


def expire_command(name: NameArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Deletes a table's expired rows now, by its TTL (table property ``cascade.ttl``).

    A table served by ``cascade-rt serve`` does it itself every ``cascade.ttl.interval-ms``;
    run this on tables no server is writing.
    """
    from ..table import expire_rows

    _print(expire_rows(load_table(home, name)), "ttl", as_json)


def stats_command(name: NameArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Shows a table's files, small files, delete files, manifests, snapshots, bytes and last maintenance."""
    from ..table import table_stats

    _print(table_stats(load_table(home, name)), name, as_json)


def register(app: typer.Typer) -> None:
    """Add the ``table`` commands to ``app``."""
    table = typer.Typer(help="Iceberg table maintenance: compaction and statistics.", no_args_is_help=True)
    table.command("compact", help="Compact a table now (one replace snapshot).")(compact_command)
    table.command("expire", help="Delete the rows past the table's TTL now (one commit).")(expire_command)
    table.command("stats", help="Files, small files, delete files, manifests, snapshots, bytes, last maintenance.")(
        stats_command
    )
    app.add_typer(table, name="table")
