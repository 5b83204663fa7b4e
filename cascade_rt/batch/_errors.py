"""The error raised for input that does not match a schema."""

from __future__ import annotations

from typing import Any

__all__ = ("MAX_ERRORS", "ValidationError")

MAX_ERRORS = 100


class ValidationError(ValueError):
    """Input that does not match its schema.

    Attributes:
        errors: one ``{"index": int | None, "path": str, "message": str}`` per bad record (its
            first problem), sorted by index, at most 100. ``index`` counts records from 0 (for
            NDJSON, blank lines are skipped); a problem with the body as a whole (malformed JSON, the
            wrong shape for the format) has ``index`` None and ``path`` ``"$"``.
        schema: the name of the schema the input was checked against.
    """

    def __init__(self, errors: list[dict[str, Any]], schema: str = "") -> None:
        self.errors = errors[:MAX_ERRORS]
        self.schema = schema
        super().__init__(self._describe())

    def _describe(self) -> str:
        if not self.errors:
            return f"invalid {self.schema} input"
        first = self.errors[0]
        where = "body" if first["index"] is None else f"record {first['index']}"
        more = len(self.errors) - 1
        tail = f" (and {more} more bad record{'s' if more > 1 else ''})" if more else ""
        name = f"{self.schema} " if self.schema else ""
        return f"invalid {name}input: {where} at `{first['path']}`: {first['message']}{tail}"
