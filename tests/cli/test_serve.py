"""``cascade-rt serve`` on the seed example, as an operator runs it: post, stop with SIGTERM, read back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cascade_rt.testing import commit_processes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ingest_pipelines.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cascade_rt.cli", *args, "--home", str(home)],
                          capture_output=True, text=True, timeout=120, check=check, cwd=ROOT)


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_ready(base: str, proc: subprocess.Popen[str], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve did not become ready")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "CASCADE_KAFKA_BOOTSTRAP": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cascade_rt.cli", "serve", str(EXAMPLE), "--port", str(port), "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        yield base, proc, home
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_acknowledges_durably_and_drains_on_sigterm(served: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, proc, home = served
    records = [{"id": f"k{i}", "timestamp": "2026-11-20T12:00:00Z", "value": i / 2,
                "tags": ["a"] if i % 2 else None, "metadata": {"source": "api", "priority": i}} for i in range(40)]
    status, body = post(f"{base}/ingest/ComprehensivePipeline", json.dumps(records).encode())
    assert (status, body) == (200, {"accepted": 40})
    status, body = post(f"{base}/ingest/ExamplePipeline", json.dumps([{"id": "1", "name": "a", "value": "x"}]).encode())
    assert status == 400
    assert body["details"] == [{"index": 0, "path": "$.value", "message": "Expected `float`, got `str`"}]
    committers = commit_processes(proc.pid)  # serve commits each table in a process of its own
    assert len(committers) == 2  # ExamplePipeline's and ComprehensivePipeline's tables
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "draining" in output
    assert not [pid for pid in committers if Path(f"/proc/{pid}").exists()]  # drained, then ended

    peek = cli("peek", "ComprehensivePipeline", "-n", "5", "--json", home=home)
    rows = json.loads(peek.stdout)
    assert len(rows) == 5
    assert {"id", "timestamp", "value", "tags", "metadata"} <= set(rows[0])
    assert json.loads(rows[0]["metadata"])["source"] == "api"
    counted = cli("query", "SELECT count(*) AS n, count(DISTINCT id) AS k FROM ComprehensivePipeline", "--json", home=home)
    assert json.loads(counted.stdout) == [{"n": 40, "k": 40}]


def test_ls_lists_every_part_of_the_seed_example(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "cascade_rt.cli", "ls", str(EXAMPLE)], capture_output=True,
                         text=True, timeout=120, check=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}).stdout
    for expected in ("ExamplePipeline", "ComprehensivePipeline", "ComprehensivePipelineDeadLetterQueue",
                     "POST /ingest/ComprehensivePipeline (JSON_ARRAY)", "4 partitions, retention 86400s",
                     "dedup on id"):
        assert expected in out, out


def test_peek_of_an_unknown_table_names_the_known_ones(tmp_path: Path) -> None:
    result = cli("peek", "Missing", home=tmp_path / "home", check=False)
    assert result.returncode == 1
    assert "Missing" in result.stdout
    assert "tables:" in result.stdout


def test_workers_without_kafka_is_refused_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CASCADE_KAFKA_BOOTSTRAP"}
    result = subprocess.run([sys.executable, "-m", "cascade_rt.cli", "serve", str(EXAMPLE), "--workers", "2"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert result.returncode == 2
    assert "CASCADE_KAFKA_BOOTSTRAP" in result.stdout


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    import resource

    from cascade_rt.cli._app import raise_file_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_file_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == (hard if hard != resource.RLIM_INFINITY else 1 << 20)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ctrl_c_to_the_terminal_drains_serve_and_leaves_its_commit_processes_to_it(tmp_path: Path) -> None:
    # Ctrl-C signals the whole foreground process group; the commit processes must not die of
    # it mid-commit, but end when serve closes their pipes after draining.
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "CASCADE_KAFKA_BOOTSTRAP": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cascade_rt.cli", "serve", str(EXAMPLE), "--port", str(port), "--home", str(home)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        committers = commit_processes(proc.pid)
        assert len(committers) == 2
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "draining" in output
    assert "KeyboardInterrupt" not in output
    assert not [pid for pid in committers if Path(f"/proc/{pid}").exists()]
