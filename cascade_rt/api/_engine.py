"""DuckDB over the runtime's Iceberg tables, with each table's scan cached per snapshot.

A query names its tables (placeholders or words matching table names); each is looked up in the
catalog (metadata only) and scanned to Arrow only when its current snapshot differs from the one
cached, so repeated queries on an unchanged table never re-read its files. Each query runs on a
fresh DuckDB connection whose views point at the cached Arrow tables (zero-copy), so queries in
several worker threads do not share a connection.
"""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa

from ..table._query import referenced_tables
from ..table._scan import scan_arrow

__all__ = ("QueryEngine", "quote_identifier")


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier: ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


class QueryEngine:
    """Runs SQL over ``catalog``'s tables; ``statistics`` counts scans and cache hits."""

    def __init__(self, catalog: Any, *, namespace: str = "default") -> None:
        self.catalog = catalog
        self.namespace = namespace
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[Any, pa.Table]] = {}
        self.scans = 0
        self.hits = 0

    def table(self, namespace: str, name: str) -> pa.Table:
        """The table's current rows as Arrow: from the cache when its snapshot is unchanged."""
        table = self.catalog.load_table((*namespace.split("."), name))
        snapshot = table.metadata.current_snapshot_id
        key = (namespace, name)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == snapshot:
                self.hits += 1
                return cached[1]
        data = scan_arrow(table)
        with self._lock:
            self._cache[key] = (snapshot, data)
            self.scans += 1
        return data

    def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        """Runs one statement with ``$name`` parameters bound; returns Arrow. Blocking."""
        import duckdb

        con = duckdb.connect()
        try:
            schemas: set[str] = set()
            for i, (ns, name) in enumerate(referenced_tables(self.catalog, sql)):
                hidden = f"__cascade_{i}"
                con.register(hidden, self.table(ns, name))
                if ns not in schemas:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(ns)}")
                    schemas.add(ns)
                con.execute(f"CREATE VIEW {quote_identifier(ns)}.{quote_identifier(name)} AS SELECT * FROM {hidden}")
                if ns == self.namespace:
                    con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS SELECT * FROM {hidden}")
            rel = con.sql(sql, params=parameters or None)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        finally:
            con.close()
