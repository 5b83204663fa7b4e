"""Actors shared by the actor runtime tests (imported as ``actor_helpers``)."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from actors import Actor, ActorRef, Terminated


class Recorder(Actor):
    """Appends every message to ``log``; ``"get"`` returns the log; ``("boom", x)`` crashes."""

    def __init__(self, log: list[object] | None = None, gate: anyio.Event | None = None) -> None:
        self.log = log if log is not None else []
        self.gate = gate

    async def receive(self, message: object) -> object:
        if message == "get":
            return list(self.log)
        if message == "ping":
            return "pong"
        if isinstance(message, tuple) and message and message[0] == "boom":
            raise RuntimeError(f"boom {message[1]}")
        if self.gate is not None:
            await self.gate.wait()
        self.log.append(message)
        return None


class Gated(Actor):
    """Signals ``entered`` when it starts a message, then waits for ``gate``; records messages."""

    def __init__(self, entered: anyio.Event, gate: anyio.Event, log: list[object]) -> None:
        self.entered = entered
        self.gate = gate
        self.log = log

    async def receive(self, message: object) -> object:
        self.entered.set()
        await self.gate.wait()
        self.log.append(message)
        return message


class Watcher(Actor):
    """Watches every ``ActorRef`` it is sent; appends each ``Terminated`` to ``notices``, then calls ``notify``."""

    def __init__(self, notices: list[Terminated], notify: Callable[[], object]) -> None:
        self.notices = notices
        self.notify = notify

    async def receive(self, message: object) -> object:
        if isinstance(message, Terminated):
            self.notices.append(message)
            self.notify()
        elif isinstance(message, ActorRef):
            self.watch(message)
        return None
