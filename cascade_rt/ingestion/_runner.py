"""Run assets: one attempt (dlt → validate → stage → merge), retries, timeout, history, metrics.

An attempt runs in a worker thread (dlt and pyiceberg block). The deadline
(``max_runtime_seconds``) is enforced from the event loop: the thread is abandoned and its
:class:`CancelToken` cancelled, so it stops at its next item and puts the dlt state back. The
token gates the commit: either the commit started before the deadline (and the attempt ends with
it), or it never starts. A timed-out attempt's thread may still hold the asset's dlt pipeline
until it notices: the next attempt waits for it (within its own deadline).
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import pyarrow as pa
import pyarrow.parquet as pq

from .._registry import Registry, default_registry
from ._decorator import IngestionAsset
from ._errors import AssetError, AssetSourceError, AssetTimeoutError, AssetValidationError, RunCancelled
from ._extract import REST_API_HINT, Extracted, call_asset, extract, pipeline_lock
from ._freshness import Freshness, freshness
from ._history import RunHistory
from ._metrics import AssetMetrics
from ._result import IngestionResult
from ._token import CancelToken
from ._validate import validate_batch

log = logging.getLogger("cascade_rt.ingestion")

MergeFn = Callable[[Any, pa.Table, Sequence[str], str], Coroutine[Any, Any, Any]]
"""``await merge(table, data, keys, branch) -> CommitResult``: the table writer's merge."""


def parse_partition(value: str | date) -> str:
    """Check a partition date (``YYYY-MM-DD``) and return it as text."""
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"partition_date must be YYYY-MM-DD, got {value!r}") from None


def add_metadata(data: pa.Table, load_id: str, ingested_at: datetime) -> pa.Table:
    """Append ``_dlt_load_id``, ``_dlt_id`` (16 random URL-safe chars per row) and ``_cascade_ingested_at``."""
    n = data.num_rows
    ids = base64.urlsafe_b64encode(os.urandom(12 * n))  # 12 bytes -> exactly 16 characters
    offsets = pa.py_buffer(pa.array(range(0, 16 * n + 1, 16), pa.int32()).buffers()[1])
    dlt_id = pa.StringArray.from_buffers(n, offsets, pa.py_buffer(ids))
    ts = pa.array([int(ingested_at.timestamp() * 1_000_000)], pa.int64()).cast(pa.timestamp("us", tz="UTC"))[
        0
    ]
    return (
        data.append_column(
            pa.field("_dlt_load_id", pa.string(), nullable=False), pa.array([load_id] * n, pa.string())
        )
        .append_column(pa.field("_dlt_id", pa.string(), nullable=False), dlt_id)
        .append_column(pa.field("_cascade_ingested_at", pa.timestamp("us", tz="UTC")), pa.repeat(ts, n))
    )


@dataclass
class _Attempt:
    done: threading.Event = field(default_factory=threading.Event)
    commit: Any = None
    error: BaseException | None = None
    rows_loaded: int = 0
    dlt_elapsed: float = 0.0
    load_id: str | None = None


class AssetRunner:
    """Runs registered assets into the Iceberg catalog, with retries, timeouts and a history.

    Args:
        home: The cascade home (dlt pipelines under ``<home>/dlt``, staging under
            ``<home>/staging``, history in ``<home>/runs.db``).
        catalog: The Iceberg catalog (default: ``open_catalog(home)``).
        metrics: A ``prometheus_client.CollectorRegistry`` to export metrics on (or an
            :class:`AssetMetrics`).
        assets: Where asset names are looked up (default: the default registry), or a mapping.
        merge: ``await merge(table, data, keys, branch)``, reaching the table's writer actor in
            the runtime; without it the runner commits with ``commit_upsert`` itself.
        history: The run history (default: ``<home>/runs.db``).
        clock: Returns the current aware datetime (partition default, records, freshness).
        sleep: The async sleep used between retries (tests inject one).
    """

    def __init__(
        self,
        *,
        home: str | Path | None = None,
        catalog: Any = None,
        metrics: Any = None,
        assets: Registry | dict[str, IngestionAsset] | None = None,
        merge: MergeFn | None = None,
        history: RunHistory | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        from ..table import open_catalog, resolve_home

        self.home = resolve_home(home)
        self.catalog = catalog if catalog is not None else open_catalog(self.home)
        self.metrics = metrics if isinstance(metrics, AssetMetrics) else AssetMetrics(metrics)
        self._assets = assets if assets is not None else default_registry()
        self._merge = merge
        self.history = history if history is not None else RunHistory.at_home(self.home)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep or anyio.sleep

    def asset(self, name: str) -> IngestionAsset:
        """The asset named ``name``; ``KeyError`` listing the known ones otherwise."""
        found = self._assets.get(name) if isinstance(self._assets, dict) else self._assets.get("asset", name)
        if found is None:
            known = list(self._assets) if isinstance(self._assets, dict) else self._assets.names("asset")
            raise KeyError(f"no asset named {name!r}; known assets: {', '.join(known) or 'none'}")
        return found

    def assets(self) -> list[IngestionAsset]:
        """Every asset this runner knows, in declaration order."""
        if isinstance(self._assets, dict):
            return list(self._assets.values())
        return list(self._assets.all("asset"))

    async def run_asset(
        self,
        name: str,
        *,
        partition_date: str | date | None = None,
        branch: str = "main",
        trigger: str = "manual",
        scheduled_for: datetime | None = None,
    ) -> IngestionResult:
        """Run ``name`` for one partition, retrying failed attempts; never raises for a failed run.

        Returns:
            The :class:`IngestionResult` (also recorded in the history and the metrics).

        Raises:
            KeyError: an unknown asset. ValueError: a malformed partition date or branch.
        """
        asset = self.asset(name)
        partition = parse_partition(partition_date if partition_date is not None else self.clock().date())
        if not branch or not isinstance(branch, str):
            raise ValueError(f"branch must be a non-empty string, got {branch!r}")
        started_at, t0 = self.clock(), time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            self.metrics.attempts.labels(asset.name).inc()
            outcome, status = await self._attempt(asset, partition, branch)
            if status == "success" or attempts > asset.max_retries or not _retryable(outcome.error):
                break
            log.warning(
                "asset %s partition %s attempt %d failed: %s; retrying in %gs",
                asset.name,
                partition,
                attempts,
                outcome.error,
                asset.retry_delay_seconds,
            )
            await self._sleep(asset.retry_delay_seconds)
        total = time.perf_counter() - t0
        result = self._result(asset, partition, branch, outcome, status, attempts, total)
        run_id = await anyio.to_thread.run_sync(
            lambda: self.history.record(
                result,
                started_at=started_at,
                finished_at=self.clock(),
                trigger=trigger,
                scheduled_for=scheduled_for,
            )
        )
        result = replace(result, run_id=run_id)
        self._observe(result)
        return result

    def freshness(self, now: datetime | None = None) -> list[Freshness]:
        """The freshness of every asset at ``now``, also exported as ``cascade_asset_freshness``."""
        now = now or self.clock()
        states = [freshness(asset, self.history, now) for asset in self.assets()]
        for state in states:
            self.metrics.set_freshness(state.asset, state.status)
        return states

    async def backfill(
        self,
        name: str,
        start: str | date,
        end: str | date,
        *,
        branch: str = "main",
        on_result: Callable[[IngestionResult], None] | None = None,
    ) -> list[IngestionResult]:
        """Run ``name`` for every date from ``start`` to ``end`` (inclusive), in order."""
        first, last = date.fromisoformat(parse_partition(start)), date.fromisoformat(parse_partition(end))
        if last < first:
            raise ValueError(f"backfill range is empty: {first} is after {last}")
        results = []
        day = first
        while day <= last:
            result = await self.run_asset(name, partition_date=day, branch=branch, trigger="backfill")
            results.append(result)
            if on_result is not None:
                on_result(result)
            day += timedelta(days=1)
        return results

    async def _attempt(self, asset: IngestionAsset, partition: str, branch: str) -> tuple[_Attempt, str]:
        token, outcome = CancelToken(), _Attempt()
        try:
            with anyio.move_on_after(asset.max_runtime_seconds):
                await anyio.to_thread.run_sync(
                    self._attempt_sync, asset, partition, branch, token, outcome, abandon_on_cancel=True
                )
        except BaseException:
            token.cancel()  # the caller was cancelled: the abandoned worker must not commit either
            raise
        if not outcome.done.is_set():
            if token.cancel():
                outcome.error = AssetTimeoutError(asset.name, asset.max_runtime_seconds)
                return outcome, "timed_out"
            await anyio.to_thread.run_sync(outcome.done.wait)  # the commit began before the deadline
        if outcome.error is None:
            return outcome, "success"
        if isinstance(outcome.error, RunCancelled):
            outcome.error = AssetTimeoutError(asset.name, asset.max_runtime_seconds)
            return outcome, "timed_out"
        return outcome, "failed"

    def _attempt_sync(
        self, asset: IngestionAsset, partition: str, branch: str, token: CancelToken, out: _Attempt
    ) -> None:
        from ..table import commit_upsert, dedupe_last, ensure_table

        lock = pipeline_lock(str(self.home / "dlt" / asset.name))
        while not lock.acquire(timeout=0.05):  # a timed-out attempt may still hold the pipeline
            if token.cancelled:
                out.error = RunCancelled()
                out.done.set()
                return
        extracted: Extracted | None = None
        try:
            produced = call_asset(asset, partition)
            extracted = extract(asset, produced, pipelines_dir=self.home / "dlt", token=token)
            out.rows_loaded, out.dlt_elapsed, out.load_id = (
                extracted.data.num_rows,
                extracted.elapsed,
                extracted.load_id,
            )
            token.check()
            # Duplicates within the run are resolved before validation (last row per key wins),
            # so a schema declaring the key unique (as the seed's does) accepts a re-sent row.
            data = dedupe_last(extracted.data, [asset.unique_key])
            if asset.validate:
                t = time.perf_counter()
                validate_batch(asset.name, asset.validation_schema, data)
                self.metrics.seconds.labels(asset.name, "validate").observe(time.perf_counter() - t)
            data = add_metadata(data, extracted.load_id, self.clock())
            token.check()
            staged = self._stage(asset, extracted.load_id, data)
            table = ensure_table(
                self.catalog, asset.identifier, asset.iceberg_schema, partition_by=asset.partition_spec
            )
            token.begin_commit()
            t = time.perf_counter()
            if self._merge is not None:
                out.commit = anyio.from_thread.run(self._merge, table, data, [asset.unique_key], branch)
            else:
                out.commit = commit_upsert(table, data, [asset.unique_key], branch=branch)
            self.metrics.seconds.labels(asset.name, "commit").observe(time.perf_counter() - t)
            staged.unlink(missing_ok=True)
        except BaseException as exc:
            out.error = exc
            if extracted is not None:
                extracted.rollback()
        finally:
            lock.release()
            out.done.set()

    def _stage(self, asset: IngestionAsset, load_id: str, data: pa.Table) -> Path:
        # Step 7 of the seed: the validated batch as Parquet, kept when the commit fails.
        directory = self.home / "staging" / asset.name
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{load_id}.parquet"
        pq.write_table(data, path, compression="snappy")
        return path

    def _result(
        self,
        asset: IngestionAsset,
        partition: str,
        branch: str,
        outcome: _Attempt,
        status: str,
        attempts: int,
        total: float,
    ) -> IngestionResult:
        error, failures = None, []
        if status != "success":
            exc = outcome.error
            error = (
                str(exc)
                if isinstance(exc, AssetError)
                else f"asset {asset.name!r}: {type(exc).__name__}: {exc}"
            )
            failures = list(getattr(exc, "failures", []))
        commit = outcome.commit if status == "success" else None
        return IngestionResult(
            asset=asset.name,
            status=status,  # type: ignore[arg-type]
            table=asset.identifier,
            branch=branch,
            partition_date=partition,
            rows_loaded=outcome.rows_loaded,
            rows_inserted=getattr(commit, "rows_inserted", 0) or 0,
            rows_updated=getattr(commit, "rows_updated", 0) or 0,
            snapshot_id=getattr(commit, "snapshot_id", None),
            dlt_elapsed_seconds=outcome.dlt_elapsed,
            total_elapsed_seconds=total,
            error=error,
            attempts=attempts,
            load_id=outcome.load_id if status == "success" else None,
            failures=failures,
        )

    def _observe(self, r: IngestionResult) -> None:
        m = self.metrics
        m.runs.labels(r.asset, r.status).inc()
        m.seconds.labels(r.asset, "dlt").observe(r.dlt_elapsed_seconds)
        m.seconds.labels(r.asset, "total").observe(r.total_elapsed_seconds)
        if r.ok:
            m.rows.labels(r.asset, "loaded").inc(r.rows_loaded)
            m.rows.labels(r.asset, "inserted").inc(r.rows_inserted)
            m.rows.labels(r.asset, "updated").inc(r.rows_updated)
            m.last_success.labels(r.asset).set(self.clock().timestamp())
            log.info(
                "asset %s partition %s branch %s: %d rows loaded, %d inserted, %d updated, snapshot %s "
                "(dlt %.3fs, total %.3fs, %d attempt(s))",
                r.asset,
                r.partition_date,
                r.branch,
                r.rows_loaded,
                r.rows_inserted,
                r.rows_updated,
                r.snapshot_id,
                r.dlt_elapsed_seconds,
                r.total_elapsed_seconds,
                r.attempts,
            )
        else:
            log.error(
                "asset %s partition %s branch %s %s after %d attempt(s): %s",
                r.asset,
                r.partition_date,
                r.branch,
                r.status,
                r.attempts,
                r.error,
            )


def _retryable(exc: BaseException | None) -> bool:
    # Bad rows and a misdeclared source fail the same way every time: retrying only delays the report.
    if isinstance(exc, AssetValidationError):
        return False
    return not (isinstance(exc, AssetSourceError) and REST_API_HINT in str(exc))
