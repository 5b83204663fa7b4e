"""Connects the declared transforms, consumers and multi-transforms to the running streams.

Moose's per-function options become plain wrappers around the user's function, so the streams
deliver as they always do: a function with its own ``dead_letter_queue`` is wrapped so that a
record it raises on goes to that queue (and the stream sees ``None``); a multi-transform is a
consumer that publishes each routed group to its stream.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ("wire_functions",)


async def _call(fn: Callable[[Any], Any], record: Any) -> Any:
    result = fn(record)
    if inspect.isawaitable(result):
        result = await result
    return result


def _guarded(fn: Callable[[Any], Any], dlq: Any, source: str) -> Callable[[Any], Any]:
    """``fn`` whose failures go to ``dlq`` (a running dead-letter queue) instead of raising."""

    async def guarded(record: Any) -> Any:
        try:
            return await _call(fn, record)
        except Exception as exc:
            await dlq.send([record], exc, source)
            return None

    guarded.__name__ = getattr(fn, "__name__", "function")
    return guarded


def _multi(fn: Callable[[Any], Any], streams: dict[str, Any], owner: str) -> Callable[[Any], Any]:
    async def multi_transform(record: Any) -> None:
        routed = await _call(fn, record)
        if routed is None:
            return
        if not isinstance(routed, list | tuple):
            routed = [routed]
        for message in routed:
            destination = getattr(message, "destination", None)
            if destination is None or not hasattr(destination, "stream_name"):
                raise TypeError(f"{owner}: a multi-transform returns stream.routed(values) items, got {message!r}")
            values = message.values
            items = [] if values is None else list(values) if isinstance(values, list | tuple) else [values]
            if items:
                await streams[destination.stream_name].publish_records(items)

    multi_transform.__name__ = "multi_transform"
    return multi_transform


def wire_functions(runtime: Any, declarations: list[Any], live_streams: dict[str, Any], *, queue: bool) -> None:
    """Adds every transform, consumer and multi-transform of ``declarations`` to their running streams.

    Args:
        runtime: The runtime (its ``streams`` and ``dead_letter_queues``).
        declarations: ``Stream`` or ``DeadLetterQueue`` declarations.
        live_streams: The running stream of each declaration, by resource name.
        queue: Whether the declarations are dead-letter queues (named by ``queue_name``).
    """
    for decl in declarations:
        name = decl.queue_name if queue else decl.stream_name
        stream = live_streams.get(name)
        if stream is None:
            continue
        decl._live = stream
        owner = f"{'DeadLetterQueue' if queue else 'Stream'} {decl.name!r}"
        for transform in decl.transforms:
            fn = _with_dlq(runtime, transform, f"{name}.transform:{transform.name}")
            stream.add_transform(runtime.streams[transform.destination.stream_name], fn)
        for consumer in decl.consumers:
            stream.add_consumer(_with_dlq(runtime, consumer, f"{name}.consumer:{consumer.name}"))
        if decl.multi_transform is not None:
            fn = _multi(decl.multi_transform.function, runtime.streams, owner)
            stream.add_consumer(_with_dlq(runtime, _Named(decl.multi_transform, fn), f"{name}.multi_transform:{decl.multi_transform.name}"))


class _Named:
    __slots__ = ("config", "function", "name")

    def __init__(self, entry: Any, function: Callable[[Any], Any]) -> None:
        self.config = entry.config
        self.function = function
        self.name = entry.name


def _with_dlq(runtime: Any, entry: Any, source: str) -> Callable[[Any], Any]:
    config = getattr(entry, "config", None)
    target = getattr(config, "dead_letter_queue", None) if config is not None else None
    if target is None:
        return entry.function  # type: ignore[no-any-return]
    name = target.queue_name if hasattr(target, "queue_name") else str(target)
    dlq = runtime.dead_letter_queues.get(name)
    if dlq is None:
        from ._runtime import UnknownDefinition

        raise UnknownDefinition("dead-letter queue", name, runtime.dead_letter_queues)
    return _guarded(entry.function, dlq, source)
