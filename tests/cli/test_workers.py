"""``cascade-rt serve --workers N``: processes share the port; streams go through Kafka."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_serve import EXAMPLE, ROOT, free_port, post, wait_ready

from cascade_rt.table import open_catalog
from cascade_rt.testing import KafkaBroker


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaBroker]:
    with KafkaBroker() as broker:
        yield broker


def landed_ids(home: Path) -> set[str]:
    """The ids in the ExamplePipeline table of ``home`` (none before its first commit)."""
    try:
        table = open_catalog(home).load_table(("default", "ExamplePipeline"))
    except Exception:  # no table yet
        return set()
    return set(table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist())


@pytest.mark.long
def test_workers_share_the_port_and_every_acknowledged_record_lands(kafka: KafkaBroker, tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "CASCADE_KAFKA_BOOTSTRAP": kafka.bootstrap}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cascade_rt.cli", "serve", str(EXAMPLE), "--port", str(port), "--home", str(home),
         "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        for i in range(20):
            status, body = post(f"{base}/ingest/ExamplePipeline",
                                json.dumps([{"id": f"w{i}", "name": "n", "value": float(i)}]).encode())
            assert (status, body) == (200, {"accepted": 1})
        with urllib.request.urlopen(f"{base}/admin/actors", timeout=10) as resp:
            assert json.loads(resp.read())["children"]
        # The ingest-only worker publishes to Kafka; the first process consumes into the table.
        deadline = time.monotonic() + 60
        while (landed := landed_ids(home)) != {f"w{i}" for i in range(20)}:
            assert time.monotonic() < deadline, sorted(landed)
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
