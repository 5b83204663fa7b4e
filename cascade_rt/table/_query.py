"""Ad-hoc SQL over the catalog's tables with DuckDB.

Each table the query mentions is scanned to Arrow with pyiceberg (position deletes applied by
``scan_arrow``, schema evolution by pyiceberg) and registered in a fresh in-memory DuckDB connection as a view: under its
bare name for tables of ``namespace``, and as ``<namespace>.<table>`` for every namespace (write
``"default".t`` for the ``default`` namespace: ``default`` is an SQL keyword).
"""

from __future__ import annotations

import re

import pyarrow as pa
from pyiceberg.catalog import Catalog

from ._scan import scan_arrow


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def referenced_tables(catalog: Catalog, sql: str) -> list[tuple[str, str]]:
    """``(namespace, table)`` pairs of the catalog whose table name occurs as a word in ``sql``."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", sql)}
    found: list[tuple[str, str]] = []
    for ns in catalog.list_namespaces():
        namespace = ".".join(ns)
        for ident in catalog.list_tables(ns):
            name = ident[-1]
            if name.lower() in words:
                found.append((namespace, name))
    return found


def query(catalog: Catalog, sql: str, *, namespace: str = "default") -> pa.Table:
    """Run ``sql`` with DuckDB over the catalog's current (main) table contents.

    Only tables named in the SQL are loaded (a word match on table names, so a name that only
    appears in a string literal is loaded needlessly but harmlessly). Blocking.

    Args:
        catalog: The Iceberg catalog.
        sql: One DuckDB SQL statement returning rows.
        namespace: The namespace whose tables are visible under their bare names.

    Returns:
        The result as an Arrow table (empty with no columns for a statement returning nothing).

    Raises:
        duckdb.Error: an SQL error (an unknown table appears as DuckDB's "Table ... does not exist").
    """
    import duckdb  # imported on first use: it is large, and only queries need it

    con = duckdb.connect()
    try:
        schemas: set[str] = set()
        bare: set[str] = set()
        for i, (ns, name) in enumerate(referenced_tables(catalog, sql)):
            data = scan_arrow(catalog.load_table((*ns.split("."), name)))
            hidden = f"__cascade_{i}_{name}"
            con.register(hidden, data)
            if ns not in schemas:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(ns)}")
                schemas.add(ns)
            con.execute(f"CREATE VIEW {_quote(ns)}.{_quote(name)} AS SELECT * FROM {_quote(hidden)}")
            if ns == namespace and name not in bare:
                con.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM {_quote(hidden)}")
                bare.add(name)
        rel = con.sql(sql)
        return rel.to_arrow_table() if rel is not None else pa.table({})
    finally:
        con.close()
