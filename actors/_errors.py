"""Errors raised by the actor runtime: a small flat set, each naming the actor it concerns."""

from __future__ import annotations

__all__ = (
    "ActorError", "ActorStopped", "AskCycle", "AskTimeout", "MailboxFull", "RestartLimitExceeded", "RestartRequested",
)


class ActorError(Exception):
    """Base class of every error the runtime raises about an actor.

    Attributes:
        actor: path of the actor concerned (``"app/pipelines/orders/table"``).
    """

    def __init__(self, message: str, *, actor: str) -> None:
        super().__init__(message)
        self.actor = actor


class MailboxFull(ActorError):
    """A bounded mailbox refused a message (``FAIL`` policy, or ``tell_nowait`` on a full ``BLOCK``).

    The refused message is *not* a dead letter: the sender still holds it and was told.

    Attributes:
        actor: path of the target actor.
        capacity: the mailbox capacity in messages.
        overflow: name of the overflow policy.
    """

    def __init__(self, actor: str, capacity: int, overflow: str) -> None:
        super().__init__(
            f"mailbox of `{actor}` is full (capacity {capacity}, overflow {overflow})", actor=actor
        )
        self.capacity = capacity
        self.overflow = overflow


class AskTimeout(ActorError, TimeoutError):
    """An ``ask`` got no reply in time.

    Attributes:
        actor: path of the asked actor.
        timeout: the timeout in seconds.
    """

    def __init__(self, actor: str, timeout: float) -> None:
        super().__init__(f"ask to `{actor}` timed out after {timeout} s", actor=actor)
        self.timeout = timeout


class ActorStopped(ActorError):
    """The actor is stopped (or stopping) and cannot answer an ``ask`` or start a child."""

    def __init__(self, actor: str, detail: str = "is stopped") -> None:
        super().__init__(f"actor `{actor}` {detail}", actor=actor)


class AskCycle(ActorError):
    """An ``ask`` would wait on itself (ask to self, or A asks B while B asks A): it would deadlock.

    Attributes:
        actor: path of the asked actor.
        chain: the paths around the cycle, asker first and last (``("app/a", "app/a")`` for self).
    """

    def __init__(self, actor: str, chain: tuple[str, ...]) -> None:
        route = " -> ".join(chain)
        super().__init__(
            f"ask to `{actor}` would deadlock ({route}); reply later with a Promise or use tell()",
            actor=actor,
        )
        self.chain = chain


class RestartRequested(ActorError):
    """The failure an actor takes when someone asked for it to restart (``ActorRef.restart``).

    Attributes:
        actor: path of the actor restarted.
        reason: why, as the one who asked said it.
    """

    def __init__(self, actor: str, reason: str) -> None:
        super().__init__(f"`{actor}` was asked to restart: {reason}", actor=actor)
        self.reason = reason


class RestartLimitExceeded(ActorError):
    """A child crashed more than ``max_restarts`` times within ``within`` seconds.

    Raised inside a supervisor to fail it towards its parent; also the ``error`` of the
    ``Terminated`` notice and dead letter when the root gives a top-level child up.

    Attributes:
        actor: path of the child that crashed too often.
        max_restarts: the allowed restarts.
        within: the window in seconds.
        cause: the last exception of the child (also ``__cause__``), or None for a normal exit.
    """

    def __init__(self, actor: str, max_restarts: int, within: float, cause: BaseException | None) -> None:
        super().__init__(
            f"`{actor}` restarted more than {max_restarts} times within {within} s; last error: {cause!r}",
            actor=actor,
        )
        self.max_restarts = max_restarts
        self.within = within
        self.cause = cause
        self.__cause__ = cause
