"""Shared fixtures: every async test runs on asyncio, asyncio + uvloop and trio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from cascade_rt._registry import Registry

_BACKENDS = [
    pytest.param(("asyncio", {}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    pytest.param(("trio", {}), id="trio"),
]


@pytest.fixture(params=_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """All anyio backends; tests that need asyncio-only libraries override this."""
    return cast("tuple[str, dict[str, object]]", request.param)


@pytest.fixture
def asyncio_only() -> None:
    """Marker fixture: documents that a test overrides ``anyio_backend`` to asyncio variants."""


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A fresh registry for the test's declarations."""
    reg = Registry()
    yield reg
    reg.clear()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A runtime home in ``tmp_path``."""
    return tmp_path / "home"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "long: runs for tens of seconds (a subprocess end to end); collected first, so that the "
        "parallel workers (pytest-xdist) do not wait for one of them at the end")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``long`` go first (in their order), the others keep theirs.

    Variants that run a table's commits in a commit process (``process``/``commit_process``
    True) run on the asyncio backend only: that work happens in another process, which the event
    loop never reaches, and each variant starts a process of its own (the thread variants keep
    every backend)."""
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        values = params.params if params is not None else {}
        in_process = values.get("process") is True or values.get("commit_process") is True
        backend = values.get("anyio_backend")
        if in_process and backend is not None and backend != ("asyncio", {}):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = sorted(kept, key=lambda item: item.get_closest_marker("long") is None)
