"""The run history: every asset run, and which tables each branch wrote (SQLite, ``<home>/runs.db``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._result import IngestionResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset TEXT NOT NULL,
    table_name TEXT NOT NULL,
    branch TEXT NOT NULL,
    partition_date TEXT NOT NULL,
    status TEXT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_for TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    rows_loaded INTEGER NOT NULL,
    rows_inserted INTEGER NOT NULL,
    rows_updated INTEGER NOT NULL,
    snapshot_id INTEGER,
    load_id TEXT,
    dlt_elapsed_seconds REAL NOT NULL,
    total_elapsed_seconds REAL NOT NULL,
    error TEXT,
    failures TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_asset ON runs (asset, id);
CREATE TABLE IF NOT EXISTS branch_tables (
    branch TEXT NOT NULL,
    table_name TEXT NOT NULL,
    state TEXT NOT NULL,
    snapshot_id INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (branch, table_name)
);
"""


@dataclass(frozen=True)
class RunRecord:
    """One recorded run: its :class:`IngestionResult` plus when and why it ran."""

    result: IngestionResult
    trigger: str
    started_at: datetime
    finished_at: datetime
    scheduled_for: datetime | None = None

    @property
    def asset(self) -> str:
        return self.result.asset

    @property
    def status(self) -> str:
        return self.result.status


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


def _dt(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s)


class RunHistory:
    """Run records in SQLite. Every method opens its own connection: safe from any thread.

    Args:
        path: The database file (created with its tables when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def at_home(cls, home: str | Path) -> RunHistory:
        """The history of a cascade home (``<home>/runs.db``)."""
        return cls(Path(home) / "runs.db")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db
        finally:
            db.close()

    def record(
        self,
        result: IngestionResult,
        *,
        started_at: datetime,
        finished_at: datetime,
        trigger: str = "manual",
        scheduled_for: datetime | None = None,
    ) -> int:
        """Store one run; a successful run on a branch also marks its table as written there.

        Returns:
            The run id.
        """
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO runs (asset, table_name, branch, partition_date, status, trigger, scheduled_for,"
                " started_at, finished_at, attempts, rows_loaded, rows_inserted, rows_updated, snapshot_id,"
                " load_id, dlt_elapsed_seconds, total_elapsed_seconds, error, failures)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    result.asset,
                    result.table,
                    result.branch,
                    result.partition_date,
                    result.status,
                    trigger,
                    _iso(scheduled_for),
                    _iso(started_at),
                    _iso(finished_at),
                    result.attempts,
                    result.rows_loaded,
                    result.rows_inserted,
                    result.rows_updated,
                    result.snapshot_id,
                    result.load_id,
                    result.dlt_elapsed_seconds,
                    result.total_elapsed_seconds,
                    result.error,
                    json.dumps(result.failures, default=str),
                ),
            )
            if result.ok:
                db.execute(
                    "INSERT INTO branch_tables (branch, table_name, state, snapshot_id, updated_at)"
                    " VALUES (?,?,'open',?,?) ON CONFLICT (branch, table_name) DO UPDATE SET"
                    " state='open', snapshot_id=excluded.snapshot_id, updated_at=excluded.updated_at",
                    (result.branch, result.table, result.snapshot_id, _iso(finished_at)),
                )
            return int(cur.lastrowid or 0)

    def runs(self, asset: str | None = None, *, limit: int = 50) -> list[RunRecord]:
        """The latest runs, newest first (of one asset when given)."""
        where, args = ("WHERE asset = ?", [asset]) if asset else ("", [])
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", [*args, limit]
            ).fetchall()
            names = [d[0] for d in db.execute("SELECT * FROM runs LIMIT 0").description]
        return [self._to_record(dict(zip(names, row, strict=True))) for row in rows]

    def last_run(self, asset: str, *, status: str | None = None) -> RunRecord | None:
        """The latest run of ``asset`` (with that status when given)."""
        sql, args = "SELECT * FROM runs WHERE asset = ?", [asset]
        if status:
            sql, args = sql + " AND status = ?", [*args, status]
        with self._connect() as db:
            cur = db.execute(sql + " ORDER BY id DESC LIMIT 1", args)
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else self._to_record(dict(zip(names, row, strict=True)))

    def last_success(self, asset: str) -> RunRecord | None:
        """The latest successful run of ``asset``."""
        return self.last_run(asset, status="success")

    def last_scheduled(self) -> dict[str, datetime]:
        """Per asset, the latest cron tick a run was made for (the scheduler's memory)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT asset, MAX(scheduled_for) FROM runs WHERE scheduled_for IS NOT NULL GROUP BY asset"
            ).fetchall()
        return {asset: datetime.fromisoformat(t) for asset, t in rows}

    def branch_tables(self, branch: str, *, state: str | None = "open") -> list[str]:
        """Tables written on ``branch`` by successful runs (those not yet published or dropped by default)."""
        sql, args = "SELECT table_name FROM branch_tables WHERE branch = ?", [branch]
        if state:
            sql, args = sql + " AND state = ?", [*args, state]
        with self._connect() as db:
            return [r[0] for r in db.execute(sql + " ORDER BY table_name", args).fetchall()]

    def branches(self) -> list[dict[str, Any]]:
        """Every branch written by a run (main excluded): name, state, tables and last update."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT branch, table_name, state, updated_at FROM branch_tables WHERE branch != 'main'"
                " ORDER BY branch, table_name"
            ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for branch, table, state, updated in rows:
            entry = out.setdefault(branch, {"branch": branch, "tables": {}, "updated_at": updated})
            entry["tables"][table] = state
            entry["updated_at"] = max(entry["updated_at"], updated)
        return list(out.values())

    def mark_branch(self, branch: str, table: str, state: str, *, snapshot_id: int | None = None) -> None:
        """Set the state (``published`` or ``dropped``) of ``table`` on ``branch``."""
        with self._connect() as db:
            db.execute(
                "UPDATE branch_tables SET state = ?, snapshot_id = COALESCE(?, snapshot_id), updated_at = ?"
                " WHERE branch = ? AND table_name = ?",
                (state, snapshot_id, _iso(datetime.now(UTC)), branch, table),
            )

    @staticmethod
    def _to_record(row: dict[str, Any]) -> RunRecord:
        result = IngestionResult(
            asset=row["asset"],
            status=row["status"],
            table=row["table_name"],
            branch=row["branch"],
            partition_date=row["partition_date"],
            rows_loaded=row["rows_loaded"],
            rows_inserted=row["rows_inserted"],
            rows_updated=row["rows_updated"],
            snapshot_id=row["snapshot_id"],
            dlt_elapsed_seconds=row["dlt_elapsed_seconds"],
            total_elapsed_seconds=row["total_elapsed_seconds"],
            error=row["error"],
            attempts=row["attempts"],
            load_id=row["load_id"],
            failures=json.loads(row["failures"]),
            run_id=row["id"],
        )
        return RunRecord(
            result=result,
            trigger=row["trigger"],
            started_at=_dt(row["started_at"]) or datetime.now(UTC),
            finished_at=_dt(row["finished_at"]) or datetime.now(UTC),
            scheduled_for=_dt(row["scheduled_for"]),
        )
