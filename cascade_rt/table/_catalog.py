"""Where tables live: the cascade home, the Iceberg catalog and its namespaces.

The embedded default is a pyiceberg ``SqlCatalog`` named ``cascade`` on
``sqlite:///<home>/catalog.db`` with its warehouse at ``file://<home>/warehouse``: plain
pyiceberg (or any Iceberg engine that reads a SQL catalog) opens the same tables. When
pyiceberg's own configuration names a catalog ``cascade`` (``PYICEBERG_CATALOG__CASCADE__*``
environment variables or ``.pyiceberg.yaml``), that catalog is used instead, so a REST catalog
on object storage needs no change in cascade-rt.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from pyiceberg.utils.config import Config

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
    return SqlCatalog(
        CATALOG_NAME,
        uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=warehouse.as_uri(),
    )


def ensure_namespace(catalog: Catalog, namespace: str | tuple[str, ...] = "default") -> None:
    """Create ``namespace`` in ``catalog`` unless it exists (safe to call concurrently)."""
    if not catalog.namespace_exists(namespace):
        try:
            catalog.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass
