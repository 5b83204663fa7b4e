"""Test double for the ingest layer: an endpoint that records what it was given."""

from __future__ import annotations

from typing import Any

import anyio
import pyarrow as pa


class RecordingEndpoint:
    """An endpoint that keeps what it was given; ``gate`` (an Event) holds admission when set;
    ``refuse`` is what ``refusal()`` answers (the HTTP layer asks it before reading a body)."""

    def __init__(self, name: str, schema: Any, *, version: str | None = None, format: str | None = None) -> None:
        self.name = name
        self.version = version
        self.schema = schema
        self.format = format
        self.batches: list[pa.RecordBatch] = []
        self.rejected: list[tuple[bytes, list[dict[str, Any]], str]] = []
        self.gate: anyio.Event | None = None
        self.waiting = anyio.Event()
        self.admitted = anyio.Event()
        self.durable: anyio.Event | None = None
        self.fail_with: BaseException | None = None
        self.refuse: Exception | None = None

    def refusal(self) -> Exception | None:
        return self.refuse

    async def submit(self, batch: pa.RecordBatch, *, admission_timeout: float) -> None:
        from cascade_rt.ingest import admit_within

        if self.fail_with is not None:
            raise self.fail_with

        async def admit() -> None:
            if self.gate is not None:
                self.waiting.set()
                await self.gate.wait()

        await admit_within(admission_timeout, admit, endpoint=self.name)
        self.admitted.set()
        if self.durable is not None:
            await self.durable.wait()
        self.batches.append(batch)

    async def reject(self, body: bytes, errors: list[dict[str, Any]], fmt: str) -> None:
        self.rejected.append((body, errors, fmt))
