"""load_app: an app given as a .py path or a module name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cascade_rt.ingestion import load_app


def test_loads_a_file_once_and_a_module_by_name(tmp_path: Path) -> None:
    app = tmp_path / "my_cascade_app_x.py"
    app.write_text("LOADS = []\nLOADS.append(1)\n")
    try:
        module = load_app(str(app))
        assert module.LOADS == [1]
        assert load_app(str(app)) is module  # not imported twice (definitions would clash)
        assert load_app("my_cascade_app_x") is module
    finally:
        sys.modules.pop("my_cascade_app_x", None)


def test_missing_file_and_module_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"app file '.*nope\.py' not found"):
        load_app(str(tmp_path / "nope.py"))
    with pytest.raises(ModuleNotFoundError, match="no_such_cascade_app"):
        load_app("no_such_cascade_app")
