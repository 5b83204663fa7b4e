"""The batch-asset example runs from the command line as the document describes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_serve import ROOT

EXAMPLE = ROOT / "examples" / "ingestion_assets.py"


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cascade_rt.cli", *args, "--home", str(home)],
                          capture_output=True, text=True, timeout=180, cwd=ROOT, check=False)


@pytest.mark.long
def test_backfill_then_rerun_of_the_example_asset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = cli("run", str(EXAMPLE), "my_asset", "--from", "2026-11-01", "--to", "2026-11-02", "--json", home=home)
    assert first.returncode == 0, first.stderr
    results = json.loads(first.stdout)
    assert [(r["partition_date"], r["status"], r["rows_inserted"], r["rows_updated"]) for r in results] == [
        ("2026-11-01", "success", 24, 0),
        ("2026-11-02", "success", 0, 24),
    ]
    rows = cli("query", "SELECT count(*) AS n, max(value) AS top FROM raw.my_table", "--json", home=home)
    assert rows.returncode == 0, rows.stderr
    assert json.loads(rows.stdout)[0]["n"] == 24
    listing = cli("assets", str(EXAMPLE), "--json", home=home)
    assert listing.returncode == 0, listing.stderr
    (asset,) = json.loads(listing.stdout)
    assert asset["group"] == "my_domain"
    assert asset["freshness"]["status"] == "fresh"
