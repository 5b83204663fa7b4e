"""The result of one asset run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

RunStatus = Literal["success", "failed", "timed_out"]


@dataclass(frozen=True)
class IngestionResult:
    """What one run of an asset did (also what the run history records).

    Attributes:
        asset: The asset name.
        status: ``success``, ``failed`` or ``timed_out``.
        table: ``namespace.table_name``.
        branch: The Iceberg branch written.
        partition_date: The partition (YYYY-MM-DD).
        rows_loaded: Rows the source produced (before deduplication).
        rows_inserted: New keys.
        rows_updated: Existing keys replaced.
        snapshot_id: The branch head after the commit (None when nothing was committed).
        dlt_elapsed_seconds: Time in the function and dlt.
        total_elapsed_seconds: Time of the whole run, retries included.
        error: The last error message (None on success).
        attempts: Attempts made (1 + retries used).
        load_id: The dlt load id of the successful attempt.
        failures: Validation failure cases (``column, check, value, row``) of the last attempt.
        run_id: The run-history id (None when not recorded).
    """

    asset: str
    status: RunStatus
    table: str
    branch: str
    partition_date: str
    rows_loaded: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    snapshot_id: int | None = None
    dlt_elapsed_seconds: float = 0.0
    total_elapsed_seconds: float = 0.0
    error: str | None = None
    attempts: int = 1
    load_id: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return asdict(self)
