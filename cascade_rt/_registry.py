"""The registry of declared definitions: pipelines, tables, streams, APIs, DLQs and assets.

Definitions register themselves when they are created (as Moose and Cascade discover theirs), so
``cascade-rt serve app.py`` only has to import the file. Names are unique per kind: a second
definition with a taken name fails at once, naming both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

KINDS = ("pipeline", "table", "stream", "ingest_api", "dead_letter_queue", "asset", "api")


class Registry:
    """Definitions by kind and name, in declaration order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}

    def register(self, kind: str, name: str, definition: Any) -> None:
        """Adds ``definition``; raises ``ValueError`` when ``name`` is taken for ``kind``."""
        if kind not in self._items:
            raise ValueError(f"unknown definition kind {kind!r}; expected one of {', '.join(KINDS)}")
        with self._lock:
            existing = self._items[kind].get(name)
            if existing is not None and existing is not definition:
                label = kind.replace("_", " ")
                article = "an" if label[0] in "aeiou" else "a"
                raise ValueError(
                    f"{article} {label} named {name!r} is already defined "
                    f"({_where(existing)}); names must be unique"
                )
            self._items[kind][name] = definition

    def unregister(self, kind: str, name: str) -> None:
        """Removes a definition if present (tests and reloads use this)."""
        with self._lock:
            self._items[kind].pop(name, None)

    def get(self, kind: str, name: str) -> Any | None:
        return self._items[kind].get(name)

    def all(self, kind: str) -> list[Any]:
        """Definitions of one kind, in the order they were declared."""
        return list(self._items[kind].values())

    def names(self, kind: str) -> list[str]:
        return list(self._items[kind])

    def clear(self) -> None:
        with self._lock:
            for items in self._items.values():
                items.clear()

    def __iter__(self) -> Iterator[tuple[str, str, Any]]:
        for kind, items in self._items.items():
            for name, definition in items.items():
                yield kind, name, definition


def _where(definition: Any) -> str:
    place = getattr(definition, "defined_in", None) or type(definition).__module__
    return f"first defined as {type(definition).__name__} at {place}"


_default = Registry()


def default_registry() -> Registry:
    """The process-wide registry that declarations join when created."""
    return _default
