"""Handing work from a thread back to the event loop, on asyncio, uvloop and trio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ("Notify", "loop_notifier")

Notify = Callable[[Callable[[], object]], None]
"""Runs a callable on the event loop, from any thread, without waiting for it."""


def loop_notifier() -> Notify:
    """A ``Notify`` for the event loop running now (asyncio and uvloop, or trio)."""
    call: Callable[[Callable[[], object]], object]
    try:
        call = asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:  # not asyncio: anyio's other backend
        import trio

        call = trio.lowlevel.current_trio_token().run_sync_soon

    def notify(callback: Callable[[], object]) -> None:
        try:
            call(callback)
        except RuntimeError:  # the loop has closed: nobody is left to tell
            pass

    return notify
