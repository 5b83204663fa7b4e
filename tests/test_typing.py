"""The packages and the tests type-check under ``mypy --strict`` (the ``[tool.mypy]`` settings),
so annotations cannot drift from the code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.long
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_packages_and_tests_pass_mypy_strict() -> None:
    # A cold run (no .mypy_cache) takes about 20-30 s on two cores; a warm one a few seconds.
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, f"mypy --strict failed:\n{result.stdout}{result.stderr}"
