"""Dead letters grouped by error and source, and the replay of a group into where it failed.

A group is the letters of one queue with the same source, error type and message (the record
number that starts an ingest API's message, ``record 3 at $.value: ...``, is left out, so one
bad field makes one group). Replaying a group sends its records again through the ingest API
(or into the stream) named by the source: those that pass are durable when the replay returns,
those that fail again go back to the dead-letter queue as new letters. Replayed letters are
hidden from the groups, also after a restart (the queue itself is a log and keeps them until its
retention drops them).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from ._state import ConsoleState

__all__ = ("ReplayError", "dead_letter_groups", "group_id", "letter_id", "replay_group")

SAMPLES = 3
_RECORD_PREFIX = re.compile(r"^record \d+ ")


class ReplayError(LookupError):
    """A replay that cannot be made (unknown queue or group, or a source nothing can replay into);
    ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def letter_id(letter: Any) -> str:
    """A stable id of one dead letter (its time, source, error and record)."""
    data = orjson.dumps([letter.failed_at.isoformat(), letter.source, letter.error_type, letter.error_message,
                         letter.original_record], default=str)
    return hashlib.sha1(data).hexdigest()[:16]


def _message_shape(message: str) -> str:
    return _RECORD_PREFIX.sub("", message)


def group_id(source: str, error_type: str, message: str) -> str:
    """The id of the group of letters from ``source`` failing with ``error_type``/``message``."""
    return hashlib.sha1(orjson.dumps([source, error_type, _message_shape(message)])).hexdigest()[:12]


def _replay_target(runtime: Any, source: str) -> tuple[str, str] | None:
    """``("ingest_api", name)`` or ``("stream", name)`` that a source's records replay into."""
    kind, colon, name = source.partition(":")
    if kind == "ingest_api" and name:
        try:
            runtime.endpoint(name)
        except LookupError:
            return None
        return "ingest_api", name
    if not colon and source in runtime.streams:
        return "stream", source
    return None


def dead_letter_groups(runtime: Any, state: ConsoleState) -> dict[str, Any]:
    """Per queue: its pending letters grouped by error and source, newest group first, with samples."""
    queues = []
    for name, queue in runtime.dead_letter_queues.items():
        replayed = state.replayed.get(name) or set()
        groups: dict[str, dict[str, Any]] = {}
        for letter in queue.read():
            lid = letter_id(letter)
            if lid in replayed:
                continue
            gid = group_id(letter.source, letter.error_type, letter.error_message)
            group = groups.get(gid)
            if group is None:
                target = _replay_target(runtime, letter.source)
                group = groups[gid] = {
                    "id": gid, "source": letter.source, "error_type": letter.error_type,
                    "error": _message_shape(letter.error_message), "count": 0, "first_at": letter.failed_at,
                    "last_at": letter.failed_at, "samples": [],
                    "replay_into": None if target is None else f"{target[0]}:{target[1]}",
                }
            group["count"] += 1
            group["last_at"] = max(group["last_at"], letter.failed_at)
            group["first_at"] = min(group["first_at"], letter.failed_at)
            group["samples"].append({"id": lid, "record": letter.original_record,
                                     "error": letter.error_message, "failed_at": letter.failed_at.isoformat()})
            del group["samples"][:-SAMPLES]
        ordered = sorted(groups.values(), key=lambda g: g["last_at"], reverse=True)
        for group in ordered:
            group["first_at"] = group["first_at"].isoformat()
            group["last_at"] = group["last_at"].isoformat()
        queues.append({"name": name, "pending": sum(g["count"] for g in ordered), "groups": ordered})
    return {"queues": queues}


async def replay_group(runtime: Any, state: ConsoleState, queue_name: str, gid: str) -> dict[str, Any]:
    """Replays every pending letter of group ``gid`` of ``queue_name``.

    Returns ``{"replayed": n, "failed_again": m, "into": "ingest_api:X"}``: ``n`` records are
    durable, ``m`` went back to the dead-letter queue (as new letters, with their new error).

    Raises:
        ReplayError: no such queue or group (404), or its source cannot be replayed into (409).
    """
    from ..schema import ValidationError

    queue = runtime.dead_letter_queues.get(queue_name)
    if queue is None:
        known = ", ".join(sorted(runtime.dead_letter_queues)) or "none"
        raise ReplayError(f"no dead-letter queue named {queue_name!r}; known: {known}")
    replayed = state.replayed.get(queue_name) or set()
    letters = [
        letter for letter in queue.read()
        if letter_id(letter) not in replayed and group_id(letter.source, letter.error_type, letter.error_message) == gid
    ]
    if not letters:
        raise ReplayError(f"dead-letter queue {queue_name!r} has no pending group {gid!r}")
    target = _replay_target(runtime, letters[0].source)
    if target is None:
        raise ReplayError(
            f"dead letters from {letters[0].source!r} cannot be replayed: only ingest API and stream sources can",
            status=409,
        )
    kind, name = target
    good: list[Any] = []
    failed = 0
    if kind == "ingest_api":
        endpoint = runtime.endpoint(name)
        schema = endpoint.schema
    else:
        endpoint, schema = None, runtime.streams[name].schema
    for letter in letters:
        try:
            schema.decode_records([letter.original_record])
        except (ValidationError, TypeError, ValueError) as exc:
            failed += 1
            errors = getattr(exc, "errors", None) or [{"index": 0, "path": "$", "message": str(exc)}]
            if endpoint is not None:
                await endpoint.reject_records([letter.original_record], errors)
            else:
                await queue.send([letter.original_record], exc, letters[0].source)
        else:
            good.append(letter.original_record)
    if good:
        batch = schema.decode_records(good)
        if endpoint is not None:
            await endpoint.submit(batch)
        else:
            await runtime.streams[name].publish(batch)
    await state.mark_replayed(queue_name, {letter_id(letter) for letter in letters})
    return {"replayed": len(good), "failed_again": failed, "into": f"{kind}:{name}", "group": gid}
