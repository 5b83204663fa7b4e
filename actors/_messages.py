"""Plain records the runtime hands out: ``Terminated`` notices and ``ActorStatistics`` snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._ref import ActorRef

__all__ = ("ActorStatistics", "Terminated")


@dataclass(frozen=True, slots=True)
class Terminated:
    """Delivered to ``receive`` of every actor that ``watch``-ed ``ref`` once it has stopped for good.

    Attributes:
        ref: the actor that stopped.
        reason: ``"stopped"`` (asked to stop, or a normal exit not restarted) or ``"failed"``
            (crashed and not restarted: ``TEMPORARY``, or past its restart intensity).
        error: the exception behind a ``"failed"`` reason, else None.
    """

    ref: ActorRef
    reason: str
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """A frozen snapshot of one actor's counters (``ref.statistics()``).

    Attributes:
        name: the name it was spawned with.
        path: ``system/parent/.../name``.
        kind: the actor's class name (``"ActorSystem"`` for the root).
        state: ``"running"``, ``"restarting"``, ``"stopping"``, ``"stopped"`` or ``"failed"``.
        mailbox_depth: data messages queued now.
        mailbox_high_water: the most ever queued at once.
        mailbox_capacity: the mailbox bound.
        processed: messages handled without crashing.
        failures: crashes (exceptions out of ``started``/``receive``).
        restarts: times it was restarted.
        dead_letters: dead letters for this actor, by reason.
        blocked_seconds: total time senders waited on its full mailbox.
        latency_ms: mean handler time per processed message, in milliseconds.
        timer_ticks_skipped: timer ticks skipped because the mailbox was full.
    """

    name: str
    path: str
    kind: str
    state: str
    mailbox_depth: int
    mailbox_high_water: int
    mailbox_capacity: int
    processed: int
    failures: int
    restarts: int
    dead_letters: dict[str, int] = field(default_factory=dict)
    blocked_seconds: float = 0.0
    latency_ms: float = 0.0
    timer_ticks_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the DESIGN §2 tree keys as a plain dict (without ``children``)."""
        return {
            "name": self.name,
            "path": self.path,
            "kind": self.kind,
            "state": self.state,
            "mailbox_depth": self.mailbox_depth,
            "mailbox_high_water": self.mailbox_high_water,
            "mailbox_capacity": self.mailbox_capacity,
            "processed": self.processed,
            "failures": self.failures,
            "restarts": self.restarts,
            "dead_letters": dict(self.dead_letters),
            "blocked_seconds": self.blocked_seconds,
            "latency_ms": self.latency_ms,
        }
