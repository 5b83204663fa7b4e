from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema

from cascade_rt.table import commit_append, ensure_namespace, ensure_table, open_catalog, resolve_home


def test_resolve_home_prefers_argument_then_env_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CASCADE_HOME", raising=False)
    assert resolve_home() == tmp_path / ".cascade"
    assert (tmp_path / ".cascade").is_dir()
    monkeypatch.setenv("CASCADE_HOME", str(tmp_path / "from-env"))
    assert resolve_home() == tmp_path / "from-env"
    assert resolve_home(tmp_path / "explicit") == tmp_path / "explicit"
    assert (tmp_path / "explicit").is_dir()


def test_open_catalog_is_sqlite_catalog_named_cascade_in_home(home: Path) -> None:
    catalog = open_catalog(home)
    assert isinstance(catalog, SqlCatalog)
    assert catalog.name == "cascade"
    assert catalog.properties["uri"] == f"sqlite:///{home / 'catalog.db'}"
    assert catalog.properties["warehouse"] == (home / "warehouse").as_uri()


def test_plain_pyiceberg_reads_tables_written_through_cascade(
    catalog: Catalog, home: Path, schema: Schema, rows: Callable[..., pa.Table]
) -> None:
    table = ensure_table(catalog, "default.events", schema)
    commit_append(table, rows([1, 2, 3]))
    other = SqlCatalog("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
    assert ("default", "events") in other.list_tables("default")
    got = other.load_table("default.events").scan().to_arrow().sort_by("id")
    assert got.column("id").to_pylist() == [1, 2, 3]
    assert got.column("name").to_pylist() == ["v1", "v2", "v3"]


def test_pyiceberg_configured_cascade_catalog_wins(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "configured"
    elsewhere.mkdir()
    monkeypatch.setenv("PYICEBERG_CATALOG__CASCADE__TYPE", "sql")
    monkeypatch.setenv("PYICEBERG_CATALOG__CASCADE__URI", f"sqlite:///{elsewhere}/other.db")
    monkeypatch.setenv("PYICEBERG_CATALOG__CASCADE__WAREHOUSE", elsewhere.as_uri())
    catalog = open_catalog(home)
    assert catalog.name == "cascade"
    assert catalog.properties["uri"] == f"sqlite:///{elsewhere}/other.db"
    ensure_namespace(catalog, "default")
    assert (elsewhere / "other.db").exists()
    assert not (home / "catalog.db").exists()


def test_ensure_namespace_is_idempotent(catalog: Catalog) -> None:
    ensure_namespace(catalog, "sales")
    ensure_namespace(catalog, "sales")
    assert ("sales",) in catalog.list_namespaces()


def test_pyiceberg_yaml_cascade_catalog_wins(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "pyiceberg-home"
    config_dir.mkdir()
    (config_dir / ".pyiceberg.yaml").write_text(
        f"catalog:\n  cascade:\n    type: sql\n    uri: sqlite:///{tmp_path}/yaml.db\n    warehouse: {tmp_path.as_uri()}\n"
    )
    monkeypatch.setenv("PYICEBERG_HOME", str(config_dir))
    catalog = open_catalog(home)
    assert catalog.properties["uri"] == f"sqlite:///{tmp_path}/yaml.db"
    assert not (home / "catalog.db").exists()
