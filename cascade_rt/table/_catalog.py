"""Where tables live: the cascade home, the Iceberg catalog and its namespaces.

The embedded default is a pyiceberg ``SqlCatalog`` named ``cascade`` on
``sqlite:///<home>/catalog.db`` with its warehouse at ``file://<home>/warehouse``: plain
pyiceberg (or any Iceberg engine that reads a SQL catalog) opens the same tables. When
pyiceberg's own configuration names a catalog ``cascade`` (``PYICEBERG_CATALOG__CASCADE__*``
environment variables or ``.pyiceberg.yaml``), that catalog is used instead, so a REST catalog
on object storage needs no change in cascade-rt.

The embedded catalog commits faster than a plain ``SqlCatalog``: a plain one re-reads and parses
the table's metadata file at every commit and deep-copies the result; :class:`EmbeddedCatalog`
starts from the metadata the committing table already holds when the catalog row still points at
it (one indexed read), and falls back to the plain commit otherwise. The row update stays
conditional on the previous location, so a concurrent writer still fails the commit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NamespaceAlreadyExistsError
from pyiceberg.table import CommitTableResponse
from pyiceberg.table.locations import load_location_provider
from pyiceberg.utils.config import Config
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ._metadata import apply_updates

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyiceberg.table.update import TableRequirement, TableUpdate

CATALOG_NAME = "cascade"
"""The name of the catalog cascade-rt opens (and looks up in pyiceberg's configuration)."""

HOME_ENV = "CASCADE_HOME"
"""Environment variable naming the cascade home directory."""


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Return the cascade home directory, creating it when missing.

    Args:
        home: An explicit directory. Without it, the environment variable ``CASCADE_HOME``,
            else ``./.cascade`` in the current directory.

    Returns:
        The absolute path of the home directory (it exists on return).
    """
    if home is None:
        home = os.environ.get(HOME_ENV) or ".cascade"
    path = Path(home).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def configured_catalog() -> bool:
    """Tell whether pyiceberg's own configuration defines a catalog named ``cascade``."""
    return Config().get_catalog_config(CATALOG_NAME) is not None


def open_catalog(home: str | os.PathLike[str] | None = None) -> Catalog:
    """Open the Iceberg catalog cascade-rt writes to.

    When pyiceberg's configuration defines a catalog ``cascade`` it is loaded with
    ``load_catalog("cascade")`` (REST, Glue, S3 warehouses...), and ``home`` is not used.
    Otherwise a ``SqlCatalog`` named ``cascade`` on ``<home>/catalog.db`` with the warehouse
    ``<home>/warehouse`` is opened (created on first use).

    Args:
        home: The cascade home; see :func:`resolve_home`.

    Returns:
        A pyiceberg catalog. Blocking calls: use it from a worker thread in async code.
    """
    # Read pyiceberg's configuration afresh: pyiceberg caches it at import time, which would
    # miss variables set later in the process (test_pyiceberg_configured_cascade_catalog_wins).
    configured = Config().get_catalog_config(CATALOG_NAME)
    if configured is not None:
        return load_catalog(CATALOG_NAME, **{k: v for k, v in configured.items() if isinstance(v, str)})
    root = resolve_home(home)
    warehouse = root / "warehouse"
    warehouse.mkdir(exist_ok=True)
    return EmbeddedCatalog(
        CATALOG_NAME,
        uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=warehouse.as_uri(),
    )


class EmbeddedCatalog(SqlCatalog):
    """The embedded SQL catalog, committing from the metadata the table holds (see the module doc)."""

    def commit_table(
        self, table: Table, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        namespace = Catalog.namespace_to_string(Catalog.namespace_from(table.name()))
        name = Catalog.table_name_from(table.name())
        where = (
            IcebergTables.catalog_name == self.name,
            IcebergTables.table_namespace == namespace,
            IcebergTables.table_name == name,
        )
        with Session(self.engine) as session:
            current = session.execute(select(IcebergTables.metadata_location).where(*where)).scalar_one_or_none()
        if current is None or current != table.metadata_location or not self.engine.dialect.supports_sane_rowcount:
            return super().commit_table(table, requirements, updates)  # moved on, or new: the general path
        base = table.metadata
        if not updates:
            return CommitTableResponse(metadata=base, metadata_location=current)  # type: ignore[call-arg]
        for requirement in requirements:
            requirement.validate(base)
        metadata = apply_updates(base, updates, metadata_location=current)
        provider = load_location_provider(metadata.location, metadata.properties)
        location = provider.new_table_metadata_file_location(self._parse_metadata_version(current) + 1)
        io = self._load_file_io(properties=metadata.properties, location=location)
        self._write_metadata(metadata=metadata, io=io, metadata_path=location)
        with Session(self.engine) as session:
            result = session.execute(
                update(IcebergTables)
                .where(*where, IcebergTables.metadata_location == current)
                .values(metadata_location=location, previous_metadata_location=current)
            )
            if result.rowcount < 1:  # type: ignore[attr-defined]
                raise CommitFailedException(f"Table has been updated by another process: {namespace}.{name}")
            session.commit()
        return CommitTableResponse(metadata=metadata, metadata_location=location)  # type: ignore[call-arg]


def ensure_namespace(catalog: Catalog, namespace: str | tuple[str, ...] = "default") -> None:
    """Create ``namespace`` in ``catalog`` unless it exists (safe to call concurrently)."""
    if not catalog.namespace_exists(namespace):
        try:
            catalog.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass
