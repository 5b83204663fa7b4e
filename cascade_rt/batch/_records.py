"""Arrow record batches back to Python records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import msgspec
import pyarrow as pa

from ._types import TypeNode

__all__ = ("RecordConverter",)

Fix = Callable[[Any], Any]


def _fixer(node: TypeNode, raw: bool) -> Fix | None:
    """A function restoring JSON-text values inside ``node``'s values, or None if there are none."""
    if node.kind == "json":
        if raw:
            return lambda v: None if v is None else msgspec.Raw(v.encode())
        return lambda v: None if v is None else msgspec.json.decode(v)
    if node.kind == "list":
        assert node.item is not None
        item = _fixer(node.item, raw)
        if item is None:
            return None
        return lambda v: None if v is None else [item(x) for x in v]
    if node.kind == "struct":
        fixes = [(f.name, fx) for f in node.fields if (fx := _fixer(f.type, raw)) is not None]
        if not fixes:
            return None

        def fix(v: Any) -> Any:
            if v is not None:
                for name, fx in fixes:
                    v[name] = fx(v[name])
            return v

        return fix
    return None


class RecordConverter:
    """Turns batches of one schema into dicts; JSON-text fields become values again."""

    def __init__(self, root: TypeNode, schema: pa.Schema) -> None:
        self.schema = schema
        self._fix = {raw: _fixer(root, raw) for raw in (False, True)}

    def to_records(self, batch: pa.RecordBatch | pa.Table, raw_json: bool = False) -> list[dict[str, Any]]:
        """The records of ``batch`` as dicts.

        Args:
            batch: a batch (or table) of this schema.
            raw_json: keep JSON-text fields as ``msgspec.Raw`` (for re-encoding) instead of parsing.
        """
        rows = cast("list[dict[str, Any]]", batch.to_pylist())
        fix = self._fix[raw_json]
        if fix is not None:
            for row in rows:
                fix(row)
        return rows
