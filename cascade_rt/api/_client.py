"""``MooseClient``: what a query function gets; ``client.query.execute(sql, {...})``.

Placeholders are Moose's ``{name}`` (``string.Formatter`` syntax, ``{{`` for a literal brace):
an ``OlapTable`` or a column (``table.cols.x``) becomes a quoted identifier, anything else a
bound DuckDB parameter (``$p0``), never text pasted into the SQL. A one-item list is taken as its
item (as Moose does, for values straight from a query string).
"""

from __future__ import annotations

import string
from typing import Any

import pyarrow as pa

from ._engine import QueryEngine, quote_identifier

__all__ = ("MooseClient", "QueryClient", "render")


def render(sql: str, variables: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``sql`` with its placeholders replaced, and the bound parameters.

    Raises:
        KeyError: a placeholder has no variable (naming it and the ones given).
        ValueError: a placeholder with a format spec or conversion (``{x:>3}``, ``{x!r}``).
    """
    variables = variables or {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    for literal, field, spec, conversion in string.Formatter().parse(sql):
        parts.append(literal)
        if field is None:
            continue
        if spec or conversion:
            raise ValueError(f"query placeholder {{{field}}}: format specs and conversions are not supported")
        if field not in variables:
            raise KeyError(f"query placeholder {{{field}}} has no value; given: {', '.join(variables) or 'none'}")
        value = variables[field]
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        identifier = _identifier(value)
        if identifier is not None:
            parts.append(identifier)
        else:
            name = f"p{len(params)}"
            params[name] = value.value if hasattr(value, "value") and _is_enum(value) else value
            parts.append(f"${name}")
    return "".join(parts), params


def _is_enum(value: Any) -> bool:
    import enum

    return isinstance(value, enum.Enum)


def _identifier(value: Any) -> str | None:
    table_name = getattr(value, "table_name", None)
    if isinstance(table_name, str) and hasattr(value, "identifier"):
        namespace, name = value.identifier
        return quote_identifier(name) if namespace == "default" else f"{quote_identifier(namespace)}.{quote_identifier(name)}"
    if type(value).__name__ == "Column" and hasattr(value, "table") and hasattr(value, "name"):
        return quote_identifier(value.name)
    return None


class QueryClient:
    """Runs queries for a query function (``client.query``)."""

    def __init__(self, engine: QueryEngine) -> None:
        self.engine = engine

    def execute(self, query: str, variables: dict[str, Any] | None = None, row_type: Any = None) -> list[Any]:
        """Runs ``query`` with its ``{placeholders}`` filled from ``variables``; returns rows as dicts
        (or as ``row_type`` instances, a pydantic model)."""
        rows: list[Any] = self.execute_arrow(query, variables).to_pylist()
        if row_type is not None:
            return [row_type.model_validate(row) for row in rows]
        return rows

    def execute_arrow(self, query: str, variables: dict[str, Any] | None = None) -> pa.Table:
        """As :meth:`execute`, returning the Arrow table."""
        sql, params = render(query, variables)
        return self.engine.execute(sql, params)

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> list[Any]:
        return self.execute(query, variables)


class MooseClient:
    """The client a query function receives: ``client.query`` (DuckDB over the tables)."""

    def __init__(self, engine: QueryEngine) -> None:
        self.query = QueryClient(engine)
        self.workflow = None
