"""DuckDB over the runtime's Iceberg tables, with each table's scan cached per snapshot.

A query names its tables (placeholders or words matching table names); each is looked up in the
catalog (metadata only) and read again only when its current snapshot differs from the one
loaded, so repeated queries on an unchanged table never re-read its files.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pyarrow as pa

from ..table import referenced_tables, scan_arrow

_LISTING_SECONDS = 1.0

__all__ = ("QueryEngine", "quote_identifier")


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier: ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


class QueryEngine:
    """Runs SQL over ``catalog``'s tables; ``scans`` and ``hits`` count table loads and cache hits.

    One DuckDB connection serves every query (opening one costs tens of milliseconds), under a
    lock: DuckDB parallelises each query itself. Each table is copied into a DuckDB table
    (``__cascade_<n>``, columnar and faster to scan than Arrow) when first queried and again when
    its Iceberg snapshot changes; views under its own name (and ``<namespace>.<name>``) point at it.
    """

    def __init__(self, catalog: Any, *, namespace: str = "default") -> None:
        self.catalog = catalog
        self.namespace = namespace
        self._lock = threading.Lock()
        self._con: Any = None
        self._snapshots: dict[tuple[str, str], Any] = {}
        self._hidden: dict[tuple[str, str], str] = {}
        self._listing: tuple[float, list[tuple[str, str]]] = (float("-inf"), [])
        self.scans = 0
        self.hits = 0

    def _tables_in(self, sql: str) -> list[tuple[str, str]]:
        """The catalog's tables named in ``sql``; the listing is re-read at most once a second."""
        when, listing = self._listing
        if time.monotonic() - when > _LISTING_SECONDS:
            listing = referenced_tables(self.catalog, " ".join(
                ident[-1] for ns in self.catalog.list_namespaces() for ident in self.catalog.list_tables(ns)))
            self._listing = (time.monotonic(), listing)
        words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", sql)}
        return [(ns, name) for ns, name in listing if name.lower() in words]

    def _connection(self) -> Any:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
        return self._con

    def _refresh(self, con: Any, namespace: str, name: str) -> None:
        """Loads the table into DuckDB unless its current snapshot is the one loaded."""
        table = self.catalog.load_table((*namespace.split("."), name))
        snapshot = table.metadata.current_snapshot_id
        key = (namespace, name)
        if key in self._snapshots and self._snapshots[key] == snapshot:
            self.hits += 1
            return
        data = scan_arrow(table)
        hidden = self._hidden.setdefault(key, f"__cascade_{len(self._hidden)}")
        con.register("__cascade_load", data)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {hidden} AS SELECT * FROM __cascade_load")
        finally:
            con.unregister("__cascade_load")
        if key not in self._snapshots:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(namespace)}")
            con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(namespace)}.{quote_identifier(name)} "
                        f"AS SELECT * FROM {hidden}")
            if namespace == self.namespace:
                con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS SELECT * FROM {hidden}")
        self._snapshots[key] = snapshot
        self.scans += 1

    def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        """Runs one statement with ``$name`` parameters bound; returns Arrow. Blocking."""
        with self._lock:
            tables = self._tables_in(sql)
            con = self._connection()
            for namespace, name in tables:
                self._refresh(con, namespace, name)
            rel = con.sql(sql, params=parameters or None)
            return rel.to_arrow_table() if rel is not None else pa.table({})

    def close(self) -> None:
        """Closes the DuckDB connection (a later query opens a new one and reloads the tables)."""
        with self._lock:
            con, self._con = self._con, None
            self._snapshots.clear()
            self._hidden.clear()
            if con is not None:
                con.close()
