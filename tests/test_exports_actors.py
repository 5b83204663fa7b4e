"""The public surface of ``actors``: every name imports once, from ``actors``, standalone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import actors

INIT = Path(actors.__file__)


def test_every_exported_name_imports() -> None:
    for name in actors.__all__:
        assert getattr(actors, name) is not None, name


def test_public_classes_live_in_actors() -> None:
    classes = [getattr(actors, name) for name in actors.__all__ if isinstance(getattr(actors, name), type)]
    assert classes
    assert {cls.__name__: cls.__module__ for cls in classes} == {cls.__name__: "actors" for cls in classes}


def test_each_name_is_exported_exactly_once() -> None:
    assert len(actors.__all__) == len(set(actors.__all__))
    tree = ast.parse(INIT.read_text())
    imported = [
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert sorted(imported) == sorted(actors.__all__)
    assert isinstance(actors.__all__, tuple)


def test_design_contract_names_are_exported() -> None:
    contract = {
        "Actor", "ActorSystem", "ActorRef", "Mailbox", "Overflow", "Supervisor", "Strategy", "Restart",
        "Backoff", "Pool", "MailboxFull", "AskTimeout", "ActorStopped", "Terminated", "Promise",
    }
    assert contract <= set(actors.__all__)


def test_importing_actors_leaves_cascade_rt_out() -> None:
    code = "import sys, actors; print(any(m == 'cascade_rt' or m.startswith('cascade_rt.') for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=INIT.parent.parent
    )
    assert out.stdout.strip() == "False"


def test_actors_source_never_imports_cascade_rt() -> None:
    for path in INIT.parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "cascade_rt" for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "cascade_rt", path
