"""Runtime fixtures: a fresh registry per test and a runtime home in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cascade_rt._registry import Registry


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()
    yield reg
    reg.clear()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
