"""Moose's Python template project, imports renamed, under ``cascade-rt serve``: HTTP and tables end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_serve import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "moose_app"


def _call(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _query(sql: str, home: Path) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "cascade_rt.cli", "query", sql, "--json", "--home", str(home)],
                         capture_output=True, text=True, timeout=120, check=True, cwd=ROOT).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


@pytest.mark.long
def test_moose_template_runs_under_serve(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Run from the project's root as `moose dev` would; the app is the template's app/main.py.
    proc = subprocess.Popen(
        [sys.executable, "-m", "cascade_rt.cli", "serve", "app/main.py", "--port", str(port), "--home", str(home),
         "--no-commit-process"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT,
        env={**os.environ, "CASCADE_KAFKA_BOOTSTRAP": "", "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_ready(base, proc)
        foos = [{"primary_key": "a", "timestamp": 1700000000.0, "baz": 1, "optional_text": "hello"},
                {"primary_key": "b", "timestamp": 1700000100.0, "baz": 2},
                {"primary_key": "c", "timestamp": 1728000000.0, "baz": 1}]  # the template's DLQ magic value
        for foo in foos:
            assert _call(f"{base}/ingest/Foo", foo) == (200, {"accepted": 1})
        status, body = _call(f"{base}/ingest/Foo", {"primary_key": "d", "timestamp": "soon", "baz": 1})
        assert status == 400
        assert body["details"][0]["path"] == "$.timestamp"

        # The tables follow the streams (commits every second, through Foo's transform into Bar).
        _eventually(lambda: len(_call(f"{base}/api/bar?limit=5")[1]) == 2 and len(
            _call(f"{base}/api/bar/1?limit=5")[1]) == 2)
        assert _call(f"{base}/api/bar?order_by=text_length&limit=5") == (200, [
            {"primary_key": "a", "baz": 1, "has_text": True, "text_length": 5},
            {"primary_key": "b", "baz": 2, "has_text": False, "text_length": 0},
        ])
        assert _call(f"{base}/api/bar?baz=2") == (200, [{"primary_key": "b", "baz": 2, "has_text": False,
                                                          "text_length": 0}])
        status, body = _call(f"{base}/api/bar/1?limit=1")
        assert (status, body[0]["text_length"]) == (200, 1005)
        status, body = _call(f"{base}/api/bar?limit=500")
        assert status == 400
        assert body["details"][0]["parameter"] == "limit"
        status, body = _call(f"{base}/openapi.json")
        assert {"/ingest/Foo", "/api/bar", "/api/bar/1"} <= set(body["paths"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Received Foo event:" in output
    assert "Primary Key: a" in output
    # The DLQ consumer got the transform's failure and read the original record back with as_typed().
    assert "foo in dead letter: primary_key='c' timestamp=1728000000.0 baz=<Baz.QUX: 1>" in output, output

    assert _query("SELECT primary_key, baz, utc_timestamp FROM Bar ORDER BY primary_key", home) == [
        {"primary_key": "a", "baz": 1, "utc_timestamp": _utc_of(1700000000.0)},
        {"primary_key": "b", "baz": 2, "utc_timestamp": _utc_of(1700000100.0)},
    ]
    assert _query("SELECT primary_key, text_length FROM BarArchive_1_0 ORDER BY primary_key", home) == [
        {"primary_key": "a", "text_length": 5}, {"primary_key": "b", "text_length": 0},
    ]


def _eventually(check: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("the tables did not catch up with their streams in time")
        time.sleep(0.2)


def _utc_of(timestamp: float) -> str:
    # The template builds utc_timestamp with datetime.fromtimestamp (local time, naive): taken as UTC.
    import datetime as dt

    naive = dt.datetime.fromtimestamp(timestamp)
    return naive.replace(tzinfo=dt.UTC).isoformat(sep=" ")


def test_ls_lists_the_template_s_query_apis() -> None:
    out = subprocess.run([sys.executable, "-m", "cascade_rt.cli", "ls", "app/main.py"], capture_output=True,
                         text=True, timeout=120, check=True, cwd=PROJECT, env={**os.environ, "COLUMNS": "200"}).stdout
    for expected in ("GET /api/bar (QueryParams → QueryResult)", "GET /api/bar/1", "BarArchive_1_0",
                     "FooDeadLetterQueue", "version archived_at", "ttl archived_at + INTERVAL 90 DAY"):
        assert expected in out, out
