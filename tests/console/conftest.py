"""Console fixtures: the example app declared on a fresh registry, a runtime home in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cascade_rt._registry import Registry

from .console_app import declare


@pytest.fixture
def app_registry() -> Iterator[Registry]:
    """A registry holding the console's example pipelines (``console_app.declare``)."""
    registry = Registry()
    declare(registry)
    yield registry
    registry.clear()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
