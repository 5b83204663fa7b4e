"""Every table the CLI prints: rich on a terminal, whole tab-separated values in a pipe, ``--json`` an array."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from cascade_rt.cli._output import plain_cell, plain_lines
from cascade_rt.table import commit_append, ensure_table, open_catalog

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ingest_pipelines.py"
LONG = "my_asset_" + "x" * 300 + "_end"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with standard output a pipe (not a terminal), 80 columns as a shell would give."""
    return subprocess.run([sys.executable, "-m", "cascade_rt.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False, env={**os.environ, "COLUMNS": "80"})


def tsv(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_plain_cells_are_whole_and_escaped() -> None:
    assert plain_cell(None) == ""
    assert plain_cell("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert list(plain_lines(("k", "v"), [("one", LONG), ("two", None)])) == ["k\tv", f"one\t{LONG}", "two\t"]


def test_query_in_a_pipe_prints_whole_values_and_json_parses(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    sql = f"SELECT '{LONG}' AS name, 'a' || chr(9) || 'b' || chr(10) || 'c' AS odd, 7 AS n"
    out = cli("query", sql, "--home", home)
    assert out.returncode == 0, out.stderr
    assert tsv(out.stdout) == [["name", "odd", "n"], [LONG, "a\\tb\\nc", "7"]]
    assert "1 row(s)" in out.stderr  # notes go to standard error, the rows alone to standard output
    as_json = cli("query", sql, "--home", home, "--json")
    assert json.loads(as_json.stdout) == [{"name": LONG, "odd": "a\tb\nc", "n": 7}]


def test_peek_and_table_stats_in_a_pipe(tmp_path: Path) -> None:
    home = tmp_path / "home"
    schema = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "name", StringType()))
    table = ensure_table(open_catalog(home), "default.events", schema)
    commit_append(table, pa.table({"id": pa.array([1], pa.int64()), "name": [LONG]}))
    out = cli("peek", "events", "--home", str(home))
    assert tsv(out.stdout) == [["id", "name"], ["1", LONG]]
    assert json.loads(cli("peek", "events", "--home", str(home), "--json").stdout) == [{"id": 1, "name": LONG}]
    stats = dict(tsv(cli("table", "stats", "events", "--home", str(home)).stdout))
    assert (stats["field"], stats["data_files"]) == ("value", "1")


def test_ls_in_a_pipe_and_as_json() -> None:
    out = cli("ls", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    rows = tsv(out.stdout)
    assert rows[0] == ["kind", "name", "details"]
    assert all(len(row) == 3 for row in rows)
    assert ["ingest api", "ComprehensivePipeline", "POST /ingest/ComprehensivePipeline (JSON_ARRAY) → "
            "ComprehensivePipeline"] in rows
    listed = json.loads(cli("ls", str(EXAMPLE), "--json").stdout)
    assert {"kind": "table", "name": "ComprehensivePipeline"}.items() <= next(
        d for d in listed if d["kind"] == "table" and d["name"] == "ComprehensivePipeline").items()


def test_runs_and_branches_of_an_empty_home(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert cli("runs", "--home", home).stdout.splitlines() == [
        "id\tasset\tpartition\tbranch\tstatus\ttrigger\trows\tfinished"]
    assert json.loads(cli("runs", "--home", home, "--json").stdout) == []
    assert cli("branch", "list", "--home", home).stdout.splitlines() == ["branch\ttables\tupdated"]
    assert json.loads(cli("branch", "list", "--home", home, "--json").stdout) == []


def test_a_terminal_gets_the_rich_table(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "cascade_rt.cli", "query", "SELECT 'short' AS name",
                               "--home", str(tmp_path / "home")], stdout=secondary, stderr=subprocess.PIPE,
                              timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "80"}, check=False)
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other end closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if secondary != -1:
            os.close(secondary)
        os.close(primary)
    assert proc.returncode == 0, proc.stderr
    shown = b"".join(chunks).decode()
    assert "short" in shown
    assert "\t" not in shown
    assert "┃" in shown or "│" in shown  # a box-drawn table
