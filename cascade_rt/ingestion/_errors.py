"""Errors raised by batch assets: declaration mistakes, source failures, validation, timeouts."""

from __future__ import annotations

from typing import Any


class AssetError(Exception):
    """Base class of the batch-asset errors; ``.asset`` names the asset."""

    def __init__(self, message: str, *, asset: str) -> None:
        super().__init__(message)
        self.asset = asset


class AssetDefinitionError(AssetError, ValueError):
    """A ``@cascade_ingestion`` declaration is wrong (bad cron, unknown key, no schema...).

    Attributes:
        asset: The asset (function) name.
        parameter: The decorator parameter at fault.
    """

    def __init__(self, message: str, *, asset: str, parameter: str) -> None:
        super().__init__(f"asset {asset!r}: {message}", asset=asset)
        self.parameter = parameter


class AssetSourceError(AssetError):
    """The asset's function or its dlt source failed; the original error is ``__cause__``."""


class AssetValidationError(AssetError, ValueError):
    """Rows of a run failed the asset's schema; nothing was written.

    Attributes:
        asset: The asset name.
        failures: One dict per failure case: ``column``, ``check``, ``value``, ``row``
            (the row position in the run's batch, None for a column-level failure).
    """

    def __init__(self, asset: str, failures: list[dict[str, Any]]) -> None:
        shown = "; ".join(
            f"column {f['column']!r} failed {f['check']} with value {_short(f['value'])}"
            + (f" (row {f['row']})" if f.get("row") is not None else "")
            for f in failures[:10]
        )
        more = f" and {len(failures) - 10} more" if len(failures) > 10 else ""
        super().__init__(
            f"asset {asset!r}: validation failed, nothing written: {len(failures)} failure case(s): {shown}{more}",
            asset=asset,
        )
        self.failures = failures


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class AssetTimeoutError(AssetError, TimeoutError):
    """A run exceeded ``max_runtime_seconds``; nothing was committed after the deadline.

    Attributes:
        asset: The asset name.
        seconds: The limit that was exceeded.
    """

    def __init__(self, asset: str, seconds: float) -> None:
        super().__init__(
            f"asset {asset!r}: run exceeded max_runtime_seconds={seconds:g} and was cancelled; nothing was committed",
            asset=asset,
        )
        self.seconds = seconds


class RunCancelled(Exception):
    """Raised inside a run's worker thread once its deadline has passed (internal signal)."""
