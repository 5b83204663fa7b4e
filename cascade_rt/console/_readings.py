"""One reading of the runtime's live figures: the actor tree, health, and each table writer's counters.

The writers' counters are the only figures that need a message (``ask(Stats())``); they are read
with a short timeout, and a writer too busy to answer in time keeps its previous figures, marked
``stale``, so a page never waits on a commit.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from ..observe import walk_tree
from ..table import Stats

__all__ = ("STATE_RANK", "Readings", "actor_status", "read", "worst")

ASK_TIMEOUT = 1.0
STATE_RANK = {"ok": 0, "warn": 1, "fail": 2}


@dataclass
class Readings:
    """What :func:`read` gathered at ``at`` (Unix seconds)."""

    tree: dict[str, Any]
    health: dict[str, dict[str, Any]]
    writers: dict[str, dict[str, Any]]
    at: float = field(default_factory=time.time)

    def actors(self) -> dict[str, dict[str, Any]]:
        """Every actor of the tree by path."""
        return {str(node.get("path")): node for node in walk_tree(self.tree)}


async def read(runtime: Any, previous: Readings | None = None) -> Readings:
    """Reads the tree, health and writer counters of ``runtime`` (a running ``Runtime``)."""
    tree = runtime.tree()
    try:
        health = dict(runtime.health())
    except Exception as exc:  # a panel shows it; never fail the page
        health = {"runtime": {"status": "warn", "error": f"{type(exc).__name__}: {exc}"}}
    writers: dict[str, dict[str, Any]] = {}
    for name, sink in list(runtime.tables.items()):
        figures: dict[str, Any] | None = None
        with anyio.move_on_after(ASK_TIMEOUT):
            try:
                stats = await sink.writer.ask(Stats(), timeout=ASK_TIMEOUT)
                figures = {**dataclasses.asdict(stats), "stale": False}
            except Exception as exc:
                figures = {"stale": True, "error": f"{type(exc).__name__}: {exc}"}
        if figures is None or figures.get("stale"):
            old = previous.writers.get(name) if previous is not None else None
            figures = {**(old or {}), **(figures or {"error": f"no answer in {ASK_TIMEOUT:g} s"}), "stale": True}
        writers[name] = figures
    return Readings(tree=tree, health=health, writers=writers)


def actor_status(state: str | None) -> str:
    """``ok``/``warn``/``fail`` of an actor state (``restarting`` warns; ``failed``/``stopped`` fail)."""
    return {"running": "ok", "restarting": "warn"}.get(str(state), "fail")


def worst(*statuses: str) -> str:
    """The worst of ``ok``/``warn``/``fail`` (``ok`` for none)."""
    return max(statuses, key=lambda s: STATE_RANK.get(s, 1), default="ok")
