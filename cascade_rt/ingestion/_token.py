"""A cancellation token shared between a run's event loop side and its worker thread."""

from __future__ import annotations

import threading

from ._errors import RunCancelled


class CancelToken:
    """Cancels a run's worker thread at its next check, and gates the commit.

    The worker thread calls :meth:`check` between items and steps; the loop side calls
    :meth:`cancel` at the deadline. :meth:`begin_commit` and :meth:`cancel` are mutually
    exclusive: either the commit starts before the deadline (and the run finishes with it), or the
    deadline wins and the commit never starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._committing = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check(self) -> None:
        """Raise :class:`RunCancelled` once cancelled."""
        if self._cancelled:
            raise RunCancelled()

    def cancel(self) -> bool:
        """Cancel the run; False when the commit had already started (the run finishes it)."""
        with self._lock:
            if self._committing:
                return False
            self._cancelled = True
            return True

    def begin_commit(self) -> None:
        """Mark the commit as started; raise :class:`RunCancelled` if the deadline came first."""
        with self._lock:
            if self._cancelled:
                raise RunCancelled()
            self._committing = True
