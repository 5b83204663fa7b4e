"""A record that makes its table's commit fail, over HTTP: every request is answered, the others
land once, and that record alone ends in the pipeline's dead-letter queue.

The failure is pyiceberg's own string upper bound (restored here in place of the fix that
``cascade_rt.table`` installs): a value whose 16th code point is U+D7FF, the largest of its file,
gets a bound in the surrogate range, and the commit fails with ``UnicodeEncodeError``.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import orjson
import pytest
from pyiceberg.catalog import Catalog

from cascade_rt import IngestPipeline, Key, Runtime
from cascade_rt._registry import Registry
from cascade_rt.table import Stats, open_catalog

pytestmark = pytest.mark.anyio

POISON = "z" * 15 + "\ud7ff" + "-poison"


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio")])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


class Reading(msgspec.Struct):
    id: Key[str]
    at: datetime
    value: float


def open_unfixed_catalog(home: Path) -> Catalog:
    """The runtime's catalog, with pyiceberg's own string bounds back (in a commit process too)."""
    import pyiceberg.io.pyarrow as arrow_io
    import pyiceberg.utils.truncate as truncate

    arrow_io.truncate_upper_bound_text_string = truncate.truncate_upper_bound_text_string  # type: ignore[attr-defined]
    return open_catalog(home)


@pytest.fixture
def unfixed_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyiceberg.io.pyarrow as arrow_io

    import cascade_rt.runtime._runtime as runtime_module

    # open_unfixed_catalog swaps the bound in this process too: put the fix back afterwards.
    monkeypatch.setattr(arrow_io, "truncate_upper_bound_text_string", arrow_io.truncate_upper_bound_text_string)  # type: ignore[attr-defined]
    monkeypatch.setattr(runtime_module, "open_catalog", open_unfixed_catalog)
    # A commit process gets ``partial(open_unfixed_catalog, home)``: it imports this module for it.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))


def readings(start: int, n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i:04d}", "at": "2026-11-01T10:00:00+00:00", "value": float(i)} for i in range(start, start + n)]


@pytest.mark.parametrize("commit_process", [False, True], ids=["thread", "commit-process"])
async def test_a_poison_record_goes_to_the_dlq_alone_and_every_request_is_answered(
    registry: Registry, home: Path, unfixed_bounds: None, commit_process: bool
) -> None:
    pipeline = IngestPipeline[Reading]("Readings", {"table": True, "stream": True, "ingest_api": True,
                                                    "dead_letter_queue": True}, registry=registry)
    assert pipeline.dead_letter_queue is not None
    bodies = [readings(i * 20, 20) for i in range(6)]
    bodies[3][7] = {"id": POISON, "at": "2026-11-01T10:00:00+00:00", "value": -1.0}
    async with Runtime(home, registry=registry, commit_process=commit_process) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            for body in bodies:
                async with http.post("/ingest/Readings", data=orjson.dumps(body)) as resp:
                    assert resp.status == 200, await resp.text()
        await rt.flush()
        ids = rt.table("Readings").column("id").to_pylist()
        letters = rt.dead_letter_queues["ReadingsDeadLetterQueue"].read()
        stats = await rt.tables["Readings"].writer.ask(Stats())
    expected = {record["id"] for body in bodies for record in body} - {POISON}
    assert Counter(ids) == Counter(expected)  # every good record, exactly once
    (letter,) = letters
    assert letter.original_record["id"] == POISON
    assert letter.original_record["value"] == -1.0
    assert letter.source == "default.Readings.commit"
    assert letter.error_type == "UnicodeEncodeError"
    assert "table default.Readings, column 'id': a commit failed because of this record" in letter.error_message
    assert stats.poison_rows == 1
    assert stats.failed_commits == 0
