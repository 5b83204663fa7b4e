"""Fixtures for the actor runtime tests: a running system that stops everything it started."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors import ActorSystem, DeadLetter


@pytest.fixture
async def system() -> AsyncIterator[ActorSystem]:
    async with ActorSystem("test", shutdown_timeout=5.0) as s:
        yield s


@pytest.fixture
def letters(system: ActorSystem) -> list[DeadLetter]:
    """Every dead letter of ``system``, in order."""
    seen: list[DeadLetter] = []
    system.dead_letters.subscribe(seen.append)
    return seen
