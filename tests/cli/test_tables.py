"""``cascade-rt table compact / stats`` on a table of the home's catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from cascade_rt.table import commit_append, ensure_table, open_catalog

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cascade_rt.cli", *args, "--home", str(home)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_table_stats_and_compact_report_the_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    table = ensure_table(open_catalog(home), "default.events", Schema(NestedField(1, "id", LongType(), required=True)))
    for i in range(7):
        commit_append(table, pa.table({"id": pa.array([i], pa.int64())}))
    stats = json.loads(cli("table", "stats", "events", "--json", home=home).stdout)
    assert (stats["data_files"], stats["small_data_files"], stats["delete_files"]) == (7, 7, 0)
    assert stats["last_maintenance_ms"] is None
    done = json.loads(cli("table", "compact", "events", "--json", home=home).stdout)
    assert (done["data_files_rewritten"], done["data_files_added"], done["rows"]) == (7, 1, 7)
    stats = json.loads(cli("table", "stats", "events", "--json", home=home).stdout)
    assert stats["data_files"] == 1
    assert stats["last_maintenance_ms"] is not None


def test_table_stats_of_an_unknown_table_names_the_known_ones(tmp_path: Path) -> None:
    result = cli("table", "stats", "Missing", home=tmp_path / "home")
    assert result.returncode == 1
    assert "Missing" in result.stdout
    assert "tables:" in result.stdout


def test_table_expire_deletes_the_rows_past_the_ttl_and_stats_show_it(tmp_path: Path) -> None:
    import datetime as dt

    from pyiceberg.types import TimestamptzType

    home = tmp_path / "home"
    schema = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "at", TimestamptzType()))
    table = ensure_table(open_catalog(home), "default.events", schema, properties={"cascade.ttl": "at 1 day"})
    now = dt.datetime.now(dt.UTC)
    commit_append(table, pa.table({"id": pa.array([1, 2], pa.int64()),
                                   "at": pa.array([now - dt.timedelta(days=2), now], pa.timestamp("us", tz="UTC"))}))
    assert json.loads(cli("table", "stats", "events", "--json", home=home).stdout)["ttl"] == "at 1 day"
    done = json.loads(cli("table", "expire", "events", "--json", home=home).stdout)
    assert done["rows_expired"] == 1
    assert open_catalog(home).load_table("default.events").scan().to_arrow().column("id").to_pylist() == [2]
