"""Dead letters: every message the runtime could not deliver or process, counted by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ("DeadLetter", "DeadLetters", "Subscription")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message that was not processed, and why.

    Reasons:
        ``"dropped_newest"`` / ``"dropped_oldest"`` -- evicted by a full ``DROP_*`` mailbox;
        ``"crashed"`` -- the handler raised on it (``exception`` holds the error);
        ``"stopped"`` -- sent to a stopped actor, or still queued when it stopped without draining;
        ``"shutdown_timeout"`` -- being handled when a shutdown timeout cancelled the handler;
        ``"failed"`` -- an actor was given up (``message`` is None, ``exception`` says why), or
        a message was still queued in it;
        ``"unhandled"`` -- sent to an actor that takes no messages (a supervisor).

    An ask that cannot be answered because its actor stopped is not a dead letter: the asker
    gets ``ActorStopped``. A dropped ask is both (the asker gets ``MailboxFull``).

    Attributes:
        message: the message itself (None for a ``"failed"`` report).
        path: path of the target actor.
        reason: one of the reasons above.
        exception: the error behind it, if any.
    """

    message: Any
    path: str
    reason: str
    exception: BaseException | None = None


class Subscription:
    """Handle returned by ``DeadLetters.subscribe``; call it (or ``.unsubscribe()``) to stop."""

    __slots__ = ("_owner", "_target")

    def __init__(self, owner: DeadLetters, target: Any) -> None:
        self._owner = owner
        self._target = target

    def unsubscribe(self) -> None:
        """Stop delivering dead letters to this subscriber (idempotent)."""
        self._owner._remove(self)

    def __call__(self) -> None:
        self.unsubscribe()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


class DeadLetters:
    """The system's dead-letter office: counts by reason and fans out to subscribers.

    Subscribers are sync callables (called with each ``DeadLetter``, in the event loop thread)
    or ``ActorRef``s (sent the ``DeadLetter`` with ``tell_nowait``). A subscriber that raises, or
    an actor that cannot take the letter, is counted in ``undeliverable`` and never re-published
    (so dead letters cannot loop).
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._subs: list[Subscription] = []
        self.undeliverable = 0

    def __repr__(self) -> str:
        return f"<DeadLetters total={self.total} by_reason={dict(self._counts)}>"

    @property
    def counts(self) -> dict[str, int]:
        """A copy of the counts by reason."""
        return dict(self._counts)

    @property
    def total(self) -> int:
        """All dead letters so far."""
        return sum(self._counts.values())

    def subscribe(self, subscriber: Callable[[DeadLetter], object] | Any) -> Subscription:
        """Deliver each future dead letter to ``subscriber`` (a callable or an ``ActorRef``).

        Returns:
            A ``Subscription``: call it, or its ``unsubscribe()``, to stop.

        Raises:
            TypeError: neither callable nor an actor ref.
        """
        from ._ref import ActorRef

        if not (isinstance(subscriber, ActorRef) or callable(subscriber)):
            raise TypeError(
                f"subscribe() needs a callable taking a DeadLetter or an ActorRef, got {subscriber!r}"
            )
        sub = Subscription(self, subscriber)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, letter: DeadLetter) -> None:
        """Count ``letter`` and hand it to every subscriber (never awaits)."""
        self._counts[letter.reason] += 1
        if not self._subs:
            return
        from ._ref import ActorRef

        for sub in tuple(self._subs):
            target = sub._target
            try:
                if isinstance(target, ActorRef):
                    target._deliver_dead_letter(letter)
                else:
                    target(letter)
            except Exception:
                self.undeliverable += 1
