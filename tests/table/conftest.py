"""Fixtures for the table tests: a real SQLite-backed Iceberg catalog in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.types import DoubleType, LongType, NestedField, StringType

from cascade_rt.table import open_catalog


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cascade home, with any pyiceberg configuration of the machine kept out."""
    for name in list(__import__("os").environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYICEBERG_HOME", str(tmp_path / "no-pyiceberg-config"))
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    return tmp_path / "home"


@pytest.fixture
def catalog(home: Path) -> Catalog:
    return open_catalog(home)


@pytest.fixture
def schema() -> Schema:
    return Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "name", StringType(), required=False),
        NestedField(3, "value", DoubleType(), required=False),
        identifier_field_ids=[1],
    )


def _rows(ids: list[int], tag: str = "v") -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"{tag}{i}" for i in ids]),
            "value": pa.array([float(i) for i in ids]),
        }
    )


@pytest.fixture
def rows() -> Callable[..., pa.Table]:
    """``rows(ids, tag="v")``: rows of the fixture schema; name is tag+id, value the id as float."""
    return _rows


@pytest.fixture
def composite_schema() -> Schema:
    """A table keyed on (region, id)."""
    return Schema(
        NestedField(1, "region", StringType(), required=True),
        NestedField(2, "id", LongType(), required=True),
        NestedField(3, "v", DoubleType()),
        identifier_field_ids=[1, 2],
    )
