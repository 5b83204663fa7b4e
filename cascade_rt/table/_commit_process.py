"""``CommitProcess``: the writer's side of a commit process (see ``_commit_worker``).

The writer starts one when it commits out of process (``TableWriter(commit_process=True)``),
sends it each group commit's data and awaits the result; one request is in flight at a time, as
the writer handles one message at a time. The process belongs to one writer incarnation: a
restart starts a new one, and a process that dies or stops answering fails the commit it was
running, which crashes the writer as any failed commit does.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pyarrow as pa
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from pyiceberg.catalog import Catalog

from ._commit_worker import HEADER, encode_message
from ._group import coalesce
from ._upsert import CommitResult

WORKER = "from cascade_rt.table._commit_worker import main; main()"
"""The child's program (``-c``, not ``-m``: the package imports the module before ``-m`` would run it)."""
STOP_TIMEOUT = 10.0
"""Seconds a commit process gets to exit after its input is closed, before it is killed."""


class CommitProcessError(RuntimeError):
    """The commit process of a table ended or broke its protocol.

    Attributes:
        identifier: The table the process committed to.
    """

    def __init__(self, identifier: str, message: str) -> None:
        super().__init__(f"commit process of table {identifier!r}: {message}")
        self.identifier = identifier


def check_catalog_source(identifier: str, catalog: Catalog | Callable[[], Catalog]) -> None:
    """Raises TypeError unless ``catalog`` can be sent to a commit process (a picklable factory)."""
    if isinstance(catalog, Catalog) or not callable(catalog):
        raise TypeError(
            f"TableWriter({identifier!r}, commit_process=True) needs a picklable catalog factory, "
            f"such as functools.partial(open_catalog, home), not a {type(catalog).__name__}"
        )
    try:
        pickle.dumps(catalog)
    except Exception as exc:
        raise TypeError(
            f"TableWriter({identifier!r}, commit_process=True): the catalog factory does not pickle "
            f"({exc}); use a module-level function or functools.partial of one"
        ) from None


class CommitProcess:
    """A running commit process for the table ``identifier``.

    Use ``await CommitProcess.start(...)``; every method but :meth:`aclose` raises
    :class:`CommitProcessError` once the process is gone, and re-raises an exception the
    commit raised there (a pyiceberg ``CommitFailedException``, say).
    """

    def __init__(self, identifier: str, process: Process) -> None:
        self.identifier = identifier
        self._process = process
        if process.stdin is None or process.stdout is None:  # pragma: no cover - opened with pipes
            raise CommitProcessError(identifier, "started without pipes")
        self._send = process.stdin
        self._receive = BufferedByteReceiveStream(process.stdout)
        self._lock = anyio.Lock()
        self._broken: str | None = None

    @classmethod
    async def start(cls, identifier: str, catalog: Callable[[], Catalog], *, key_fields: Sequence[str],
                    deduplicate: bool) -> CommitProcess:
        """Starts the process and opens the table there (it must exist: the writer creates it)."""
        process = await anyio.open_process(
            [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
        )
        self = cls(identifier, process)
        try:
            await self._call("open", catalog, identifier, list(key_fields), deduplicate)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise
        return self

    @property
    def pid(self) -> int:
        return self._process.pid

    async def commit(self, batches: dict[str, list[pa.Table]]) -> dict[str, CommitResult]:
        """One group commit (one Iceberg commit per branch), as ``commit_buffered`` does it."""
        # One table of one chunk per branch: a pickle of hundreds of small batches costs more
        # than the copy that joins them.
        joined = {branch: [_one_chunk(parts)] for branch, parts in batches.items()}
        result: dict[str, CommitResult] = await self._call("commit", joined)
        return result

    async def merge(self, data: pa.Table | pa.RecordBatch, keys: Sequence[str], branch: str) -> CommitResult:
        """Upserts ``data`` on ``keys`` (appends when empty) on ``branch``, in one commit."""
        result: CommitResult = await self._call("merge", data, list(keys), branch)
        return result

    async def retain(self, since_expiry: int) -> int | None:
        """The retention pass (``_maintenance.retain``) on the process's up-to-date table."""
        expired: int | None = await self._call("retain", since_expiry)
        return expired

    async def _call(self, operation: str, *args: Any) -> Any:
        async with self._lock:
            if self._broken is not None:
                raise CommitProcessError(self.identifier, self._broken)
            try:
                await self._send.send(encode_message((operation, args)))
                (size,) = HEADER.unpack(await self._receive.receive_exactly(HEADER.size))
                ok, value = pickle.loads(await self._receive.receive_exactly(size))
            except BaseException as exc:
                # A request cut short leaves the pipe mid-message: this process is done for.
                self._broken = f"{operation!r} did not complete ({type(exc).__name__}: {exc})"
                if isinstance(exc, (anyio.EndOfStream, anyio.BrokenResourceError, anyio.IncompleteRead,
                                    anyio.ClosedResourceError, OSError)):
                    raise CommitProcessError(self.identifier, f"{await self._ended()} during {operation!r}") from exc
                raise
        if not ok:
            raise value
        return value

    async def _ended(self) -> str:
        """Why the pipe broke: the process's exit status when it ended (it is reaped first)."""
        with anyio.move_on_after(1.0):
            await self._process.wait()
        code = self._process.returncode
        if code is None:
            return "its pipe broke"
        return f"the process ended (exit status {code})"

    async def aclose(self) -> None:
        """Closes the process's input (it exits after the request it runs) and waits for it,
        killing it past ``STOP_TIMEOUT`` seconds."""
        self._broken = self._broken or "closed"
        with anyio.CancelScope(shield=True):
            try:
                await self._send.aclose()
            except (anyio.BrokenResourceError, OSError):
                pass
            with anyio.move_on_after(STOP_TIMEOUT):
                await self._process.wait()
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
            await self._process.aclose()


def _one_chunk(parts: list[pa.Table]) -> pa.Table:
    return coalesce(parts).combine_chunks()
