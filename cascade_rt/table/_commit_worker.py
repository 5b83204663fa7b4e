"""The commit process: runs a table writer's Iceberg commits in a process of its own.

A group commit is mostly Python (pyiceberg builds manifests, manifest lists and the table
metadata; SQLAlchemy updates the catalog): about 10-15 ms of CPU holding the GIL, however few
rows it holds. Run in a thread, that time is taken from the event loop that serves HTTP, and the
loop's own work stretches each commit, so every acknowledgement waits longer. Run here, it takes
neither: the writer actor sends each commit's Arrow data and waits for the result.

    python -c "from cascade_rt.table._commit_worker import main; main()"

The protocol is one request at a time over standard input and output, each message a big-endian
8-byte length and a pickle: a request ``(operation, args)`` (``open``, ``commit``, ``probe``,
``merge``, ``compact``, ``remove_orphans``, ``expire_rows``, ``idle``: the idle maintenance, see
``_schedule``), a reply ``(True, value, counters)`` or ``(False, exception, counters)``. An
exception carries whether it was about the data (``_poison.mark_data_error``), judged here where
its cause is still attached; one that does not pickle travels as a ``RuntimeError`` of its text,
with that verdict. The first request must be
``"open"``. End of input ends the process; so does the writer's process ending, since it owns
the pipe. Anything the commits print goes to standard error: standard output carries only
replies.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from ._group import commit_buffered
from ._poison import is_data_error, mark_data_error
from ._schedule import Maintainer, MaintenanceCounters
from ._ttl import expire_rows
from ._upsert import CommitResult, commit_data

logger = logging.getLogger("cascade_rt.table")

HEADER = struct.Struct(">Q")
PIPE_SIZE = 1 << 20
"""Bytes asked of the kernel for each pipe (Linux), so a commit's data crosses in few writes."""

_F_SETPIPE_SZ = 1031


class _Worker:
    """The table and the key settings of one writer, the operations it runs on them, and the
    retention pass that follows each commit."""

    def __init__(self, catalog: Callable[[], Catalog], identifier: str, keys: Sequence[str], deduplicate: bool) -> None:
        self.table: Table = catalog().load_table(identifier)
        self.identifier = identifier
        self.keys = list(keys)
        self.deduplicate = deduplicate
        self.maintainer = Maintainer(identifier)
        self.pending = 0

    def commit(self, batches: dict[str, list[pa.Table]], properties: dict[str, str] | None = None,
               ) -> dict[str, CommitResult]:
        results = commit_buffered(self.table, batches, self.keys, deduplicate=self.deduplicate,
                                  properties=properties)
        self.pending += len(results)
        return results

    def probe(self, batches: dict[str, list[pa.Table]], properties: dict[str, str] | None = None) -> None:
        """A dry run of :meth:`commit`: raises what it would raise, commits nothing."""
        commit_buffered(self.table, batches, self.keys, deduplicate=self.deduplicate, properties=properties,
                        dry_run=True)

    def merge(self, data: pa.Table, keys: Sequence[str], branch: str, properties: dict[str, str] | None = None,
              ) -> CommitResult:
        result = commit_data(self.table, data, keys, branch=branch, properties=properties or {})
        self.pending += 1
        return result

    def compact(self) -> Any:
        return self.maintainer.compact(self.table)

    def expire_rows(self) -> Any:
        return expire_rows(self.table)

    def remove_orphans(self) -> Any:
        return self.maintainer.remove_orphans(self.table)

    def idle(self) -> None:
        """The idle maintenance (see ``_schedule``); never raises."""
        self.maintainer.after_commits(self.table, 0)

    def maintain(self) -> None:
        """The maintenance due after the commits made since the last call (see ``_schedule``);
        never raises."""
        commits, self.pending = self.pending, 0
        self.maintainer.after_commits(self.table, commits)

    def counters(self) -> MaintenanceCounters:
        """What maintenance did so far."""
        return self.maintainer.counters


def read_message(stream: IO[bytes]) -> Any:
    """One message from ``stream``; raises EOFError at its end."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError("the writer closed the pipe")
    (size,) = HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the writer closed the pipe mid-message")
    return pickle.loads(payload)


def encode_message(value: Any) -> bytes:
    """``value`` framed for the pipe."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def _reply_error(exc: BaseException, worker: _Worker | None) -> bytes:
    counters = worker.counters() if worker is not None else MaintenanceCounters()
    verdict = is_data_error(exc)
    try:
        return encode_message((False, mark_data_error(exc, verdict), counters))
    except Exception:  # an exception that does not pickle travels as its text
        text = mark_data_error(RuntimeError(f"{type(exc).__name__}: {exc}"), verdict)
        return encode_message((False, text, counters))


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Answers requests until end of input (the first one opens the table).

    A reply is ``(ok, value, MaintenanceCounters)``. The maintenance after a commit (expiry,
    compaction, orphan cleanup when due) runs once its reply is sent, so it delays no
    acknowledgement, only a commit that arrives meanwhile; its outcome shows in the counters of
    the next reply. ``compact``, ``remove_orphans`` and ``expire_rows`` (a TTL pass) run a pass now and reply
    with its result.
    """
    worker: _Worker | None = None
    while True:
        try:
            operation, args = read_message(requests)
        except EOFError:
            return
        try:
            if operation == "open":
                worker = _Worker(*args)
                value: Any = None
            elif worker is None:
                raise RuntimeError(f"commit process: {operation!r} before 'open'")
            elif operation in ("commit", "probe", "merge", "compact", "remove_orphans", "expire_rows", "idle"):
                value = getattr(worker, operation)(*args)
            else:
                raise RuntimeError(f"commit process: no operation {operation!r}")
            reply = encode_message((True, value, worker.counters()))
        except Exception as exc:
            reply = _reply_error(exc, worker)
        replies.write(reply)
        replies.flush()
        if worker is not None and operation in ("commit", "merge"):
            worker.maintain()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the replies
    for fd in (sys.stdin.fileno(), replies.fileno()):
        _grow_pipe(fd)
    serve(sys.stdin.buffer, replies)


def _grow_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, OSError):  # not Linux, or over the user's pipe limit: the default size
        pass
