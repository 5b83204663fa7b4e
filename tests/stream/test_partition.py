from __future__ import annotations

import subprocess
import sys
import zlib
from collections.abc import Sequence

import pyarrow as pa
import pytest

from cascade_rt.stream import key_texts, partition_batch, partition_for_key, partition_indices


def _batch(ids: Sequence[object], seq: list[int] | None = None) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"id": ids, "seq": seq if seq is not None else list(range(len(ids)))})


def test_same_key_lands_in_same_partition_and_order_is_kept() -> None:
    ids = [f"k{i % 7}" for i in range(200)]
    parts = partition_batch(_batch(ids), ["id"], 4)
    seen: dict[str, int] = {}
    for partition, part in parts:
        rows = part.to_pylist()
        seqs = [r["seq"] for r in rows]
        assert seqs == sorted(seqs)
        for row in rows:
            assert seen.setdefault(row["id"], partition) == partition
    assert sum(p.num_rows for _, p in parts) == 200
    assert [p for p, _ in parts] == sorted(p for p, _ in parts)


def test_partition_is_crc32_of_key_text_and_stable_across_processes() -> None:
    code = "from cascade_rt.stream import partition_for_key; print([partition_for_key(f'k{i}', 8) for i in range(20)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert other.strip() == str([partition_for_key(f"k{i}", 8) for i in range(20)])
    assert partition_for_key("customer-42", 16) == zlib.crc32(b"customer-42") % 16


def test_int_keys_use_decimal_text() -> None:
    batch = _batch([42, 7])
    assert key_texts(batch, ["id"]) == ["42", "7"]
    parts, _ = partition_indices(batch, ["id"], 5)
    assert parts.tolist() == [partition_for_key("42", 5), partition_for_key("7", 5)]


def test_composite_keys_are_json_arrays() -> None:
    batch = pa.RecordBatch.from_pydict({"region": ["eu", 'a","b'], "n": [1, 2]})
    assert key_texts(batch, ["region", "n"]) == ['["eu",1]', '["a\\",\\"b",2]']


def test_keyless_batch_goes_whole_to_the_spread_partition() -> None:
    batch = _batch(["a", "b", "c"])
    assert [(p, b.num_rows) for p, b in partition_batch(batch, [], 4, spread=6)] == [(2, 3)]


def test_null_key_has_no_key_text() -> None:
    assert key_texts(_batch(["a", None]), ["id"]) == ["a", None]


def test_empty_batch_has_no_parts() -> None:
    assert partition_batch(_batch([]), ["id"], 3) == []


def test_bad_partition_count_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"number of partitions must be an int >= 1, got 0"):
        partition_batch(_batch(["a"]), ["id"], 0)


def test_unknown_key_field_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"key field\(s\) \['nope'\] are not columns of the batch"):
        partition_batch(_batch(["a"]), ["nope"], 2)
