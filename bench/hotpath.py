"""Hot-path benchmark: JSON bytes → validated Arrow record batch.

Two schemas: seed 1's ``ComprehensiveSchema`` (pydantic) and seed 2's ``RawMyData`` (Pandera,
``value`` in 0..100). Bodies are 1,000-record JSON arrays and single-record objects; 1 M records in
all (``--quick``: 100 k). For each schema, in one run, it measures records/s and MB/s of input for:

1. ``cascade``: cascade-rt ``schema.decode`` → ``RecordBatch``;
2. ``pydantic``: ``TypeAdapter(list[Model]).validate_json`` + ``RecordBatch.from_pylist``;
3. ``arrow_json``: ``pyarrow.json.read_json`` on the same records as NDJSON, per body;
4. ``orjson`` / ``msgspec``: ``orjson.loads`` alone, msgspec decode (untyped) alone;
5. ``pandera``: Pandera ``validate`` on each 1,000-row batch (array bodies only).

Usage: ``python bench/hotpath.py [--quick] [--json] [--repeat N] [--freeze]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Dict, Optional  # noqa: UP035 - seed 1 spells them this way

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Pandera sets PYARROW_IGNORE_TIMEZONE=1 on import (unless it is set), after which pyarrow drops
# the offsets of aware datetimes (02:00+02:00 lands as 02:00Z) and the pydantic baseline would
# build wrong timestamps, cheaply. An empty value keeps pyarrow's correct conversion; cascade-rt
# never hands Arrow datetime objects, so it is unaffected either way.
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "")

import msgspec
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson
from pandera.pandas import DataFrameModel
from pandera.pandas import Field as PanderaField
from pydantic import BaseModel, Field, TypeAdapter

from cascade_rt.schema import Key, RecordSchema

BATCH = 1000


class ComprehensiveSchema(BaseModel):
    """Seed 1's comprehensive schema."""

    id: Key[str]
    timestamp: dt.datetime
    value: float
    tags: Optional[list[str]] = None  # noqa: UP045
    metadata: Dict[str, Any] = Field(..., description="Metadata about the record")  # noqa: UP006


class RawMyData(DataFrameModel):
    """Seed 2's Pandera schema."""

    id: str = PanderaField(nullable=False, unique=True, description="Unique identifier")
    created_at: dt.datetime = PanderaField(nullable=False, description="Record creation timestamp")
    value: int = PanderaField(ge=0, le=100, description="Data value")
    status: str | None = PanderaField(nullable=True, description="Optional status")


class RawMyDataModel(BaseModel):
    """The pydantic equivalent of ``RawMyData`` (baseline 2)."""

    id: str
    created_at: dt.datetime
    value: int = Field(ge=0, le=100)
    status: Optional[str] = None  # noqa: UP045


def _ts(rng: random.Random, i: int) -> str:
    offset = rng.choice(["Z", "+02:00", "-05:00"])
    return f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}{offset}"


def comprehensive_records(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"rec-{i}",
            "timestamp": _ts(rng, i),
            "value": rng.random() * 1000,
            "tags": [f"t{j}" for j in range(rng.randint(0, 3))] if i % 4 else None,
            "metadata": {"source": rng.choice(["api", "batch", "kafka"]), "priority": i % 5},
        }
        for i in range(n)
    ]


def mydata_records(n: int, seed: int = 2) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": f"id-{i}",
            "created_at": _ts(rng, i),
            "value": rng.randint(0, 100),
            "status": rng.choice(["ok", "late", None]),
        }
        for i in range(n)
    ]


def _bodies(records: list[dict[str, Any]], singles: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(1,000-record array bodies, single-record object bodies, the same arrays as NDJSON)."""
    arrays = [orjson.dumps(records[i : i + BATCH]) for i in range(0, len(records), BATCH)]
    ndjson = [b"\n".join(orjson.dumps(r) for r in records[i : i + BATCH]) for i in range(0, len(records), BATCH)]
    return arrays, [orjson.dumps(r) for r in records[:singles]], ndjson


def _race(cases: dict[str, tuple[Callable[[Any], Any], list[Any]]], rounds: int, chunks: int = 20) -> dict[str, float]:
    """Time per case, robust to a shared machine's changing load.

    Each case's bodies are cut into ``chunks`` slices; the cases take turns slice by slice (in an
    order that rotates), so they all run under the same load, and each slice keeps its median
    time over ``rounds`` rounds: a load spike spoils one slice of one round, not a whole case, and
    the median (unlike the best) still counts the garbage-collection passes a case's allocations
    cause.
    """
    for fn, bodies in cases.values():
        fn(bodies[0])  # warm up (first-call costs, caches)
    times: dict[str, list[list[float]]] = {name: [[] for _ in range(chunks)] for name in cases}
    sliced = {
        name: [bodies[len(bodies) * k // chunks : len(bodies) * (k + 1) // chunks] for k in range(chunks)]
        for name, (_fn, bodies) in cases.items()
    }
    clock = time.perf_counter
    names = list(cases)
    for r in range(rounds):
        for k in range(chunks):
            # The order rotates from slice to slice, so that no case always runs right after the
            # same other case (whose allocations and cold caches it would inherit).
            turn = (r + k) % len(names)
            for name in names[turn:] + names[:turn]:
                fn = cases[name][0]
                part = sliced[name][k]
                start = clock()
                for body in part:
                    fn(body)
                times[name][k].append(clock() - start)
    return {name: sum(statistics.median(t) for t in per_slice) for name, per_slice in times.items()}


def run_schema(
    label: str, records: list[dict[str, Any]], schema: RecordSchema, model: type, pandera: Any, rounds: int,
    freeze: bool = False,
) -> dict[str, Any]:
    arrays, singles, ndjson = _bodies(records, max(len(records) // 20, 1000))
    records.clear()
    adapter_many = TypeAdapter(list[model])  # type: ignore[valid-type]
    adapter_one = TypeAdapter(model)
    arrow_schema = schema.arrow_schema
    msgspec_decode = msgspec.json.Decoder().decode
    decode = schema.decode
    json_fields = [f.name for f in schema.fields if f.arrow_type == pa.string() and "Dict" in str(f.annotation)]

    def dump(row: Any) -> dict[str, Any]:
        d = row.model_dump()
        for name in json_fields:  # dict[str, Any] lands as JSON text, as in cascade-rt
            d[name] = orjson.dumps(d[name]).decode()
        return d

    def cascade_array(body: bytes) -> Any:
        return decode(body, "JSON_ARRAY")

    def cascade_one(body: bytes) -> Any:
        return decode(body, "JSON")

    def pydantic_array(body: bytes) -> Any:
        rows = adapter_many.validate_json(body)
        return pa.RecordBatch.from_pylist([dump(r) for r in rows], schema=arrow_schema)

    def pydantic_one(body: bytes) -> Any:
        return pa.RecordBatch.from_pylist([dump(adapter_one.validate_json(body))], schema=arrow_schema)

    def arrow_json(body: bytes) -> Any:
        return pajson.read_json(io.BytesIO(body))

    def pandera_frame(body: bytes) -> pd.DataFrame:
        # Pandera's DateTime is naive datetime64[ns]: hand it the UTC wall times it expects.
        frame = decode(body, "JSON_ARRAY").to_pandas()
        for name in frame.columns:
            if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
                frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
        return frame

    # Every case gets the same bodies; the two that build batches must build the same batch.
    if not pydantic_array(arrays[0]).equals(cascade_array(arrays[0])):
        raise SystemExit(f"{label}: the pydantic baseline and cascade-rt disagree on the first body")
    if not pydantic_one(singles[0]).equals(cascade_one(singles[0])):
        raise SystemExit(f"{label}: the pydantic baseline and cascade-rt disagree on the first record")
    sizes = {"array": (len(arrays) * BATCH, sum(map(len, arrays))), "object": (len(singles), sum(map(len, singles)))}
    cases: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "cascade [array]": (cascade_array, arrays),
        "pydantic [array]": (pydantic_array, arrays),
        "arrow_json [array]": (arrow_json, ndjson),
        "orjson [array]": (orjson.loads, arrays),
        "msgspec [array]": (msgspec_decode, arrays),
        "cascade [object]": (cascade_one, singles),
        "pydantic [object]": (pydantic_one, singles),
        "orjson [object]": (orjson.loads, singles),
        "msgspec [object]": (msgspec_decode, singles),
    }
    if pandera is not None:
        frames = [pandera_frame(b) for b in arrays[: max(len(arrays) // 10, 2)]]
        cases["pandera [array]"] = (pandera.validate, frames)
    # The generated records are gone (records.clear()); the bodies left are bytes, which the
    # collector does not track, so each case pays the GC cost its own allocations cause, as in a
    # long-running service (msgspec's gc=False Structs are untracked, orjson's dicts and pydantic's
    # models are not). That cost includes the full collections those allocations trigger, which
    # scan every object of the process (modules, pandas, ...) and so grow with its heap: with
    # ``freeze``, what exists now is frozen out of the collector's sight (``gc.freeze()``, as a
    # service may do after start-up) and each case pays only for its own objects.
    gc.collect()
    if freeze:
        gc.freeze()
    try:
        best = _race({k: v for k, v in cases.items() if k.endswith("[array]")}, rounds)
        best.update(_race({k: v for k, v in cases.items() if k.endswith("[object]")}, rounds))
    finally:
        gc.unfreeze()
    rows: dict[str, dict[str, float]] = {}
    for name, seconds in best.items():
        kind = name.split("[")[1].rstrip("]")
        n, size = sizes[kind]
        if name.startswith("arrow_json"):
            size = sum(map(len, ndjson))
        if name.startswith("pandera"):
            n, size = len(cases[name][1]) * BATCH, size * len(cases[name][1]) // len(arrays)
        rows[name] = {"seconds": seconds, "records": n, "records_per_s": n / seconds, "mb_per_s": size / seconds / 1e6}

    def ratio(kind: str, base: str) -> float:
        return rows[f"cascade [{kind}]"]["records_per_s"] / rows[f"{base} [{kind}]"]["records_per_s"]

    ratios = {
        kind: {base: ratio(kind, base) for base in ("pydantic", "arrow_json", "orjson", "msgspec") if f"{base} [{kind}]" in rows}
        for kind in ("array", "object")
    }
    goals = {
        ">=10x pydantic": ratios["array"]["pydantic"] >= 10,
        ">=1.2x pyarrow.json": ratios["array"]["arrow_json"] >= 1.2,
        ">=0.8x orjson.loads": ratios["array"]["orjson"] >= 0.8,
    }
    return {"schema": label, "results": rows, "ratios": ratios, "goals": goals}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 k records instead of 1 M")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved rounds (the median is kept; default 3)")
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() the process before timing (GC-neutral)")
    args = parser.parse_args(argv)
    total = 100_000 if args.quick else 1_000_000
    rounds = args.repeat or 3
    out = [
        run_schema("ComprehensiveSchema (pydantic)", comprehensive_records(total), RecordSchema.of(ComprehensiveSchema),
                   ComprehensiveSchema, None, rounds, args.freeze),
        run_schema("RawMyData (pandera)", mydata_records(total), RecordSchema.of(RawMyData, key="id"),
                   RawMyDataModel, RawMyData, rounds, args.freeze),
    ]
    if args.json:
        print(json.dumps({"records": total, "freeze": args.freeze, "schemas": out}, indent=2))
        return 0
    for res in out:
        print(f"\n== {res['schema']} ==")
        print(f"{'case':<22}{'records':>10}{'records/s':>14}{'MB/s':>10}")
        for name, r in res["results"].items():
            print(f"{name:<22}{r['records']:>10,}{r['records_per_s']:>14,.0f}{r['mb_per_s']:>10.1f}")
        for kind, by_base in res["ratios"].items():
            shown = ", ".join(f"{v:.2f}x {k}" for k, v in by_base.items())
            print(f"cascade [{kind}] vs: {shown}")
        for goal, met in res["goals"].items():
            print(f"  goal {goal} (array bodies): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
