"""The durable stream log: group sync, reads from a position, recovery, torn tails, full disks."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pyarrow as pa
import pytest

from cascade_rt._threads import loop_notifier
from cascade_rt.stream import DurableLog, LogFull, StreamError
from cascade_rt.stream._segment import HEADER, encode_entry, scan, segment_name

pytestmark = pytest.mark.anyio


def batch(*ids: int) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(ids, pa.int64()), "name": [f"n{i}" for i in ids]})


def ids(entries: list[tuple[int, pa.RecordBatch]]) -> list[int]:
    return [i for _, b in entries for i in b.column("id").to_pylist()]


def open_log(directory: Path, **options: object) -> DurableLog:
    log = DurableLog("s", directory, **options)  # type: ignore[arg-type]
    log.open(loop_notifier())
    return log


def test_scan_stops_at_a_bad_checksum_and_out_of_order_offsets() -> None:
    good = encode_entry(0, batch(1, 2), 1.0) + encode_entry(2, batch(3), 2.0)
    assert [e.offset for e in scan(good, 0).entries] == [0, 2]
    assert scan(good, 0).problem is None
    damaged = bytearray(good)
    damaged[-1] ^= 0xFF
    found = scan(bytes(damaged), 0)
    assert ([e.offset for e in found.entries], found.problem) == ([0], f"the entry at byte {found.valid_bytes} fails its checksum")
    skipped = encode_entry(0, batch(1), 1.0) + encode_entry(5, batch(2), 1.0)
    assert "starts at offset 5, expected 1" in (scan(skipped, 0).problem or "")


async def test_memory_serves_every_start_in_offset_order(tmp_path: Path) -> None:
    log = open_log(tmp_path / "log", cache_records=40)
    try:
        promises = [log.append(batch(*range(3 * i, 3 * i + 3)))[1] for i in range(30)]  # 90 records, 3 an entry
        with anyio.fail_after(10):
            for promise in promises:
                await promise.wait()
        assert log.cached_from(0, 10) is None  # older than memory holds: read from the segments
        oldest = log.end - 40 - 2  # memory keeps whole entries: at least 40 records
        for start in range(oldest, 90):  # whole entries after the first, at most 7 records
            got = ids(log.cached_from(start, 7) or [])
            assert got == list(range(start, start + len(got))), start
            assert min(5, 90 - start) <= len(got) <= 7, start
        assert log.cached_from(90, 7) == []
    finally:
        log.close()


async def test_appends_complete_once_synced_and_read_back_from_any_position(tmp_path: Path) -> None:
    log = open_log(tmp_path / "log", segment_bytes=600)
    try:
        promises = [log.append(batch(i, i + 100))[1] for i in range(10)]
        with anyio.fail_after(10):
            ends = [await p.wait() for p in promises]
        assert ends == list(range(2, 21, 2))
        assert log.synced == log.end == 20
        assert log.statistics().segments > 1  # rolled past segment_bytes
        assert ids(log.read(5, 3))[:3] == [102, 3, 103]  # from the middle of an entry
        assert ids(log.read(0, 1000)) == [x for i in range(10) for x in (i, i + 100)]
    finally:
        log.close()
    reopened = open_log(tmp_path / "log")
    try:
        assert (reopened.start, reopened.end, reopened.synced) == (0, 20, 20)
        assert ids(reopened.read(18, 10)) == [9, 109]
        assert ids([(0, b) for b in reopened.tail()]) == [x for i in range(10) for x in (i, i + 100)]
        _, promise = reopened.append(batch(42))
        with anyio.fail_after(10):
            assert await promise.wait() == 21
    finally:
        reopened.close()
    small = open_log(tmp_path / "log", cache_records=5)  # loads the newest records only
    try:
        assert ids([(0, b) for b in small.tail()]) == [8, 108, 9, 109, 42]  # offsets 16..20
        assert ids(small.read(0, 4)) == [0, 100, 1, 101]  # the rest from the files
    finally:
        small.close()


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size + 3, -1])
async def test_a_torn_last_entry_is_cut_and_logged_and_the_entries_before_it_stay(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "log"
    log = open_log(directory)
    promises = [log.append(batch(i))[1] for i in range(5)]
    with anyio.fail_after(10):
        for p in promises:
            await p.wait()
    log.close()
    segment = directory / segment_name(0)
    size = segment.stat().st_size
    last = scan(segment.read_bytes(), 0).entries[-1]
    keep = last.position + cut if cut > 0 else size - 1  # truncate inside the last entry
    os.truncate(segment, keep)
    with caplog.at_level(logging.WARNING, logger="cascade_rt.stream"):
        reopened = open_log(directory)
    try:
        assert reopened.end == 4
        assert reopened.statistics().torn_entries_cut == 1
        assert segment.stat().st_size == last.position
        assert ids(reopened.read(0, 100)) == [0, 1, 2, 3]
        assert any("cut" in r.getMessage() and "offset 4" in r.getMessage() for r in caplog.records)
        _, promise = reopened.append(batch(7))
        with anyio.fail_after(10):
            assert await promise.wait() == 5
        assert ids(reopened.read(4, 10)) == [7]
    finally:
        reopened.close()


async def test_prune_deletes_only_segments_every_reader_passed_and_past_retention(tmp_path: Path) -> None:
    now = [1000.0]
    log = open_log(tmp_path / "log", segment_bytes=300, retention_period=60, clock=lambda: now[0])
    try:
        promises = [log.append(batch(i))[1] for i in range(6)]
        with anyio.fail_after(10):
            for p in promises:
                await p.wait()
        segments = log.statistics().segments
        assert segments >= 3
        assert log.prune(passed=6) == 0  # all read, but younger than the retention
        now[0] += 61
        assert log.prune(passed=2) >= 1  # only the segments wholly before offset 2
        assert log.start <= 2
        assert ids(log.read(log.start, 100))[-1] == 5
        log.prune(passed=6)
        assert log.statistics().segments == 1  # the newest segment always stays
    finally:
        log.close()


async def test_past_its_size_limit_the_log_refuses_appends_and_keeps_what_it_has(tmp_path: Path) -> None:
    log = open_log(tmp_path / "log", max_bytes=1000)
    try:
        while log.statistics().bytes < 1000:
            log.append(batch(1))
        end = log.end
        with pytest.raises(LogFull, match=r"its limit is 1000.*nothing was written") as info:
            log.append(batch(2))
        assert info.value.reason == "log size limit"
        assert log.end == end
    finally:
        log.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB filesystem (tmpfs) to fill up; skipped where mounting is not allowed."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_refuses_the_append_cleanly_and_loses_nothing_synced(small_disk: Path) -> None:
    log = open_log(small_disk / "log")
    big = pa.record_batch({"id": pa.array(range(2000), pa.int64()), "name": ["x" * 20] * 2000})
    acknowledged = 0
    refused: LogFull | None = None
    try:
        for _ in range(100):
            try:
                _, promise = log.append(big)
            except LogFull as exc:
                refused = exc
                break
            with anyio.fail_after(10):
                acknowledged = await promise.wait()
        assert refused is not None
        assert refused.reason == "disk full"
        assert "is full" in str(refused)
        assert log.end == acknowledged  # the failed write was cut back off
    finally:
        log.close()
    reopened = open_log(small_disk / "log")
    try:
        assert reopened.end == acknowledged
        assert reopened.statistics().torn_entries_cut == 0
        assert len(ids(reopened.read(0, 10**9))) == acknowledged
    finally:
        reopened.close()


async def test_a_closed_log_refuses_appends_by_name(tmp_path: Path) -> None:
    log = open_log(tmp_path / "log")
    log.close()
    log.close()  # idempotent
    with pytest.raises(StreamError, match="stream 's': the log is not open"):
        log.append(batch(1))


async def test_a_schema_change_mid_segment_reads_back_with_each_entrys_schema(tmp_path: Path) -> None:
    log = open_log(tmp_path / "log")
    wider = pa.record_batch({"id": pa.array([9], pa.int64()), "name": ["n9"], "extra": [1.5]})
    try:
        promises = [log.append(b)[1] for b in (batch(1), batch(2), wider, batch(3))]
        with anyio.fail_after(10):
            for p in promises:
                await p.wait()
    finally:
        log.close()
    reopened = open_log(tmp_path / "log")  # from the files, not the memory cache
    try:
        read = reopened.read(0, 100)
        assert [b.schema.names for _, b in read] == [["id", "name"]] * 2 + [["id", "name", "extra"], ["id", "name"]]
        assert ids(reopened.read(2, 100)) == [9, 3]  # starting past the entry that carried the schema
    finally:
        reopened.close()
