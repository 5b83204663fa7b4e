"""``Supervisor``: an actor whose job is its children, with an explicit supervision spec."""

from __future__ import annotations

from typing import Any

from ._actor import Actor
from ._supervision import Backoff, Strategy, SupervisionSpec

__all__ = ("Supervisor",)


class Supervisor(Actor):
    """Supervises the children spawned under it (``system.spawn(..., parent=sup)``), Erlang/OTP style.

    Args:
        strategy: which children a crash restarts (``Strategy``).
        max_restarts: restarts allowed within ``within`` seconds; one more and the supervisor
            halts its children and fails to its own parent with ``RestartLimitExceeded``
            (the root instead gives that one child up, see ``ActorSystem``).
        within: the intensity window in seconds.
        backoff: delay between a crash and the restart.

    A restarted supervisor keeps its children (same refs, same mailboxes) and restarts them in
    start order. It takes no messages of its own: anything sent to it goes to dead letters
    (reason ``"unhandled"``).

    Raises:
        TypeError, ValueError: invalid settings (the message names the setting).
    """

    def __init__(
        self,
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 10,
        within: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._supervision_spec = SupervisionSpec(strategy, max_restarts, within, backoff or Backoff())

    async def receive(self, message: Any) -> Any:
        self._cell().dead_letter(message, "unhandled")
        return None
