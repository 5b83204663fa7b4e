"""How every ``cascade-rt`` command that prints a table prints it.

One rule: on a terminal, a rich table (cells fitted to the width, colours); when standard output
is not a terminal (a pipe, a file), plain tab-separated lines, a header row first, every value
whole (tab, newline, carriage return and backslash escaped as ``\\t``, ``\\n``, ``\\r``, ``\\\\``);
and with ``--json``, one JSON array of objects. Titles and notes (counts, errors) are for
people: on a terminal they print around the table, otherwise they go to standard error so the
lines on standard output are the rows alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

Styler = Callable[[str, str], str]
"""``(column, escaped text) -> rich markup`` for a cell on a terminal (colouring a status, say)."""


def is_terminal() -> bool:
    """Whether standard output is a terminal (and gets rich tables)."""
    return sys.stdout.isatty()


def plain_cell(value: Any) -> str:
    """A value as one tab-separated field: whole, ``None`` empty, separators escaped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def plain_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    """The header row, then one line per row: the tab-separated form of a table."""
    yield "\t".join(plain_cell(c) for c in columns)
    for row in rows:
        yield "\t".join(plain_cell(v) for v in row)


def print_json(records: Any) -> None:
    """Prints ``records`` (a list of objects, or one object) as one JSON document."""
    typer.echo(json.dumps(records, default=str))


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    style: Styler | None = None,
    right: Sequence[str] = (),
) -> None:
    """Prints a table by the rule above: rich on a terminal, tab-separated otherwise.

    ``notes`` follow the table (on standard error when not on a terminal); ``style`` marks up a
    cell's text on a terminal; ``right`` names the columns aligned right there.
    """
    if not is_terminal():
        if title:
            typer.echo(title, err=True)
        for line in plain_lines(columns, rows):
            typer.echo(line)
        for note in notes:
            typer.echo(note, err=True)
        return
    console = Console(highlight=False)
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        cells = ["" if v is None else str(v) for v in row]
        table.add_row(*(style(c, escape(t)) if style else escape(t) for c, t in zip(columns, cells, strict=True)))
    console.print(table)
    for note in notes:
        console.print(escape(note))
