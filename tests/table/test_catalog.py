from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.schema import Schema

from cascade_rt.table import commit_append, ensure_namespace, ensure_table, open_catalog, resolve_home
from cascade_rt.table._catalog import EmbeddedCatalog


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


# -- the embedded catalog's commit ---------------------------------------------------------------


def _plain(home: Path) -> SqlCatalog:
    return SqlCatalog("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")


def test_commits_from_the_held_metadata_are_read_back_by_plain_pyiceberg(
    catalog: Catalog, home: Path, schema: Schema, rows: Callable[..., pa.Table]
) -> None:
    assert isinstance(catalog, EmbeddedCatalog)
    table = ensure_table(catalog, "default.events", schema)
    for i in range(5):
        commit_append(table, rows([i]))
    reread = _plain(home).load_table("default.events")
    assert reread.metadata_location == table.metadata_location
    assert reread.metadata == table.metadata
    assert len(reread.metadata.metadata_log) == len(table.metadata.metadata_log) > 0
    assert sorted(reread.scan().to_arrow().column("id").to_pylist()) == [0, 1, 2, 3, 4]


def test_a_table_another_writer_moved_on_commits_on_top_of_it(
    catalog: Catalog, home: Path, schema: Schema, rows: Callable[..., pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    table = ensure_table(catalog, "default.events", schema)
    commit_append(table, rows([1]))
    stale = open_catalog(home).load_table("default.events")
    commit_append(table, rows([2]))
    commit_append(stale, rows([3]))  # the row no longer points at its metadata: the general path
    assert "concurrent update, retrying" in caplog.text  # its requirement failed, pyiceberg retried
    assert sorted(_plain(home).load_table("default.events").scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]


class _Racing(EmbeddedCatalog):
    """Lets another writer commit between reading the catalog row and updating it."""

    race: Callable[[], object] | None = None

    @staticmethod
    def _write_metadata(metadata: Any, io: Any, metadata_path: str) -> None:
        EmbeddedCatalog._write_metadata(metadata, io, metadata_path)
        race, _Racing.race = _Racing.race, None
        if race is not None:
            race()


def test_a_commit_that_loses_a_race_is_retried_after_the_winner(
    home: Path, schema: Schema, rows: Callable[..., pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    first = open_catalog(home)
    table = ensure_table(first, "default.events", schema)
    racing = _Racing("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
    mine = racing.load_table("default.events")
    _Racing.race = lambda: commit_append(table, rows([1]))  # the winner, through another catalog
    commit_append(mine, rows([2]))
    # The conditional row update found the row moved on and failed the commit; pyiceberg retried
    # it on top of the winner's, and neither append is lost.
    assert "concurrent update, retrying" in caplog.text
    assert sorted(_plain(home).load_table("default.events").scan().to_arrow().column("id").to_pylist()) == [1, 2]


def test_a_lost_race_raises_commit_failed_naming_the_table(
    home: Path, schema: Schema, rows: Callable[..., pa.Table]
) -> None:
    table = ensure_table(open_catalog(home), "default.events", schema)
    racing = _Racing("cascade", uri=f"sqlite:///{home}/catalog.db", warehouse=f"file://{home}/warehouse")
    mine = racing.load_table("default.events")
    tx = mine.transaction()
    tx.set_properties({"owner": "me"})
    _Racing.race = lambda: commit_append(table, rows([1]))
    with pytest.raises(CommitFailedException, match=r"updated by another process: default\.events"):
        racing.commit_table(mine, (), tx._updates)
