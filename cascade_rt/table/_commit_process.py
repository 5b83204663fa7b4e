"""``CommitProcess``: the writer's side of a commit process (see ``_commit_worker``).

The writer starts one when it commits out of process (``TableWriter(commit_process=True)``);
its committer thread sends it each group commit's data and waits for the result, one request at
a time. The process belongs to one writer incarnation: a
restart starts a new one, and a process that dies fails the commit it was running, which
crashes the writer as any failed commit does. There is no timeout on a reply, as there is none on
a commit in a thread: an upsert of millions of rows may take minutes.
"""

from __future__ import annotations

import os
import pickle
import select
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.to_thread
import pyarrow as pa
from anyio.abc import Process
from pyiceberg.catalog import Catalog

from ._commit_worker import HEADER, encode_message
from ._compact import CompactionResult
from ._group import coalesce
from ._orphans import OrphanResult
from ._schedule import MaintenanceCounters
from ._ttl import TtlResult
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

    Use ``await CommitProcess.start(...)``. :meth:`commit` and :meth:`merge` block until the
    process replied, so the writer calls them from its committer thread (see ``_committer``), one
    at a time; they raise :class:`CommitProcessError` once the process is gone, and re-raise an
    exception the commit raised there (a pyiceberg ``CommitFailedException``, say), carrying
    the process's verdict on whether it was about the data (``_poison.is_data_error``).

    The pipes are the process's own and non-blocking on this side; a call waits for them with
    ``select``, so :meth:`aclose` can close them under a call that waits forever.

    Attributes:
        maintenance: What the process's maintenance did, as of the last reply (``expired`` and
            ``expiry_failures`` are two of its counters).
    """

    def __init__(self, identifier: str, process: Process, requests: int, replies: int) -> None:
        self.identifier = identifier
        self._process = process
        self._requests = requests
        self._replies = replies
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._closed = False
        self.maintenance = MaintenanceCounters()

    @classmethod
    async def start(cls, identifier: str, catalog: Callable[[], Catalog], *, key_fields: Sequence[str],
                    deduplicate: bool) -> CommitProcess:
        """Starts the process and opens the table there (it must exist: the writer creates it)."""
        child_in, requests = os.pipe()
        replies, child_out = os.pipe()
        try:
            # A session of its own: Ctrl-C signals the terminal's whole process group, and a commit
            # process must not die of it mid-commit; it ends when the writer closes its input.
            process = await anyio.open_process([sys.executable, "-c", WORKER], stdin=child_in, stdout=child_out,
                                               stderr=None, start_new_session=True)
        except BaseException:
            os.close(requests)
            os.close(replies)
            raise
        finally:  # the child holds its own copies
            os.close(child_in)
            os.close(child_out)
        for fd in (requests, replies):
            os.set_blocking(fd, False)
        self = cls(identifier, process, requests, replies)
        try:
            await anyio.to_thread.run_sync(self.call, "open", catalog, identifier, list(key_fields), deduplicate)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise
        return self

    @property
    def pid(self) -> int:
        return self._process.pid

    def commit(self, batches: dict[str, list[pa.Table]], properties: dict[str, str] | None = None,
               ) -> dict[str, CommitResult]:
        """One group commit (one Iceberg commit per branch, main's with ``properties`` in its
        summary), as ``commit_buffered`` does it; the process runs its retention pass after
        replying. Blocking."""
        # One table of one chunk per branch: a pickle of hundreds of small batches costs more
        # than the copy that joins them.
        joined = {branch: [_one_chunk(parts)] if parts else [] for branch, parts in batches.items()}
        result: dict[str, CommitResult] = self.call("commit", joined, properties or {})
        return result

    def probe(self, batches: dict[str, list[pa.Table]], properties: dict[str, str] | None = None) -> None:
        """A dry run of :meth:`commit` there: raises what it would raise, commits nothing
        (see ``_poison``). Blocking."""
        joined = {branch: [_one_chunk(parts)] if parts else [] for branch, parts in batches.items()}
        self.call("probe", joined, properties or {})

    def merge(self, data: pa.Table | pa.RecordBatch, keys: Sequence[str], branch: str,
              properties: dict[str, str] | None = None) -> CommitResult:
        """Upserts ``data`` on ``keys`` (appends when empty) on ``branch``, in one commit. Blocking."""
        result: CommitResult = self.call("merge", data, list(keys), branch, properties or {})
        return result

    @property
    def expired(self) -> int:
        return self.maintenance.snapshots_expired

    @property
    def expiry_failures(self) -> int:
        return self.maintenance.expiry_failures

    def compact(self) -> CompactionResult:
        """A compaction pass there, now (see ``_compact``). Blocking."""
        result: CompactionResult = self.call("compact")
        return result

    def expire_rows(self) -> TtlResult:
        """A TTL pass there, now (see ``_ttl``). Blocking."""
        result: TtlResult = self.call("expire_rows")
        return result

    def idle(self) -> None:
        """The idle maintenance there (the committer's idle tick; see ``_schedule``). Blocking."""
        self.call("idle")

    def remove_orphans(self) -> OrphanResult:
        """An orphan cleanup there, now (see ``_orphans``). Blocking."""
        result: OrphanResult = self.call("remove_orphans")
        return result

    def call(self, operation: str, *args: Any) -> Any:
        """Sends one request and waits (blocking) for its reply."""
        with self._lock:
            if self._broken is not None:
                raise CommitProcessError(self.identifier, self._broken)
            try:
                self._write(encode_message((operation, args)))
                (size,) = HEADER.unpack(self._read(HEADER.size))
                ok, value, counters = pickle.loads(self._read(size))
            except BaseException as exc:
                # A request cut short leaves the pipe mid-message: this process is done for.
                self._broken = f"{operation!r} did not complete ({type(exc).__name__}: {exc})"
                if isinstance(exc, (EOFError, OSError, ValueError)):
                    raise CommitProcessError(self.identifier, f"{self._ended()} during {operation!r}") from exc
                raise
        self.maintenance = counters
        if not ok:
            raise value
        return value

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._requests, view):]
            except BlockingIOError:
                select.select([], [self._requests], [])

    def _read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            try:
                chunk = os.read(self._replies, size - len(data))
            except BlockingIOError:
                select.select([self._replies], [], [])
                continue
            if not chunk:
                raise EOFError("the commit process closed its output")
            data += chunk
        return bytes(data)

    def _ended(self) -> str:
        """Why the pipe broke: the process's exit status once it has one, looked at without
        reaping the process (its event loop does that; this runs in the committer thread)."""
        deadline = time.monotonic() + 1.0
        while True:
            code = self._exit_status()
            if code is not None:
                return f"the process ended (exit status {code})"
            if time.monotonic() >= deadline:
                return "its pipe broke"
            time.sleep(0.01)

    def _exit_status(self) -> int | None:
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped by the event loop, which keeps the status
            return self._process.returncode
        if info is None:
            return None
        return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status

    async def aclose(self) -> None:
        """Closes the process's input (it exits after the request it runs) and waits for it,
        killing it past ``STOP_TIMEOUT`` seconds."""
        self._broken = self._broken or "closed"
        if self._closed:
            return
        self._closed = True  # an fd is closed once: its number may belong to another file after
        with anyio.CancelScope(shield=True):
            for fd in (self._requests, self._replies):
                os.close(fd)
            with anyio.move_on_after(STOP_TIMEOUT):
                await self._process.wait()
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()
            await self._process.aclose()


def _one_chunk(parts: list[pa.Table]) -> pa.Table:
    return coalesce(parts).combine_chunks()
