"""The commit process: runs a table writer's Iceberg commits in a process of its own.

A group commit is mostly Python (pyiceberg builds manifests, manifest lists and the table
metadata; SQLAlchemy updates the catalog): about 10-15 ms of CPU holding the GIL, however few
rows it holds. Run in a thread, that time is taken from the event loop that serves HTTP, and the
loop's own work stretches each commit, so every acknowledgement waits longer. Run here, it takes
neither: the writer actor sends each commit's Arrow data and waits for the result.

    python -c "from cascade_rt.table._commit_worker import main; main()"

The protocol is one request at a time over standard input and output, each message a big-endian
8-byte length and a pickle: a request ``(operation, args)``, a reply ``(True, value)`` or
``(False, exception)``. The first request must be ``"open"``. End of input ends the process; so
does the writer's process ending, since it owns the pipe. Anything the commits print goes to
standard error: standard output carries only replies.
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
from ._maintenance import retain
from ._upsert import CommitResult, commit_data

HEADER = struct.Struct(">Q")
PIPE_SIZE = 1 << 20
"""Bytes asked of the kernel for each pipe (Linux), so a commit's data crosses in few writes."""

_F_SETPIPE_SZ = 1031


class _Worker:
    """The table and the key settings of one writer, and the operations it runs on them."""

    def __init__(self, catalog: Callable[[], Catalog], identifier: str, keys: Sequence[str], deduplicate: bool) -> None:
        self.table: Table = catalog().load_table(identifier)
        self.keys = list(keys)
        self.deduplicate = deduplicate

    def commit(self, batches: dict[str, list[pa.Table]]) -> dict[str, CommitResult]:
        return commit_buffered(self.table, batches, self.keys, deduplicate=self.deduplicate)

    def merge(self, data: pa.Table, keys: Sequence[str], branch: str) -> CommitResult:
        return commit_data(self.table, data, keys, branch=branch)

    def retain(self, since_expiry: int) -> int | None:
        return retain(self.table, since_expiry)


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


def _reply_error(exc: BaseException) -> bytes:
    try:
        return encode_message((False, exc))
    except Exception:  # an exception that does not pickle travels as its text
        return encode_message((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """Answers requests until end of input (the first one opens the table)."""
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
            else:
                value = getattr(worker, operation)(*args)
            reply = encode_message((True, value))
        except Exception as exc:
            reply = _reply_error(exc)
        replies.write(reply)
        replies.flush()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the replies
    for fd in (sys.stdin.fileno(), replies.fileno()):
        try:
            import fcntl

            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
        except (ImportError, OSError):  # not Linux, or over the user's pipe limit: the default size
            pass
    serve(sys.stdin.buffer, replies)
