"""The public surface of ``cascade_rt``: every exported name imports, once, from its package."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["cascade_rt", "cascade_rt.api", "cascade_rt.pipeline", "cascade_rt.runtime", "cascade_rt.schema", "cascade_rt.table",
            "cascade_rt.stream", "cascade_rt.ingest", "cascade_rt.ingestion", "cascade_rt.observe",
            "cascade_rt.batch", "cascade_rt.testing", "cascade_rt.console"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_imports_and_is_listed_once(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert isinstance(names, tuple)
    assert len(names) == len(set(names)), f"{package}.__all__ lists a name twice"
    for name in names:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_the_seed_imports_work() -> None:
    from cascade_rt import IngestPipeline, Key  # noqa: F401
    from cascade_rt.ingestion import cascade_ingestion  # noqa: F401
