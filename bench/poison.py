"""What a poison record costs: a group commit holding one, against the same group without it.

A table writer (committing in its thread) gets ``--writes`` writes of ``--rows`` rows and a flush,
all in one group; in the poisoned case one row of one write has a string whose pyiceberg upper
bound is a surrogate (pyiceberg's own bound function is put back for the run, in place of the fix
``cascade_rt.table`` installs), so the commit fails, the writer finds the row by dry runs, sends it
to a dead-letter callable and commits the rest. The baseline is the same group, clean, in the same
run. Each round makes a fresh table for each case, cases interleaved; medians over ``--rounds``.
The script checks every run (rows in the table, the one dead letter) and exits 1 if one is wrong.

    .venv/bin/python bench/poison.py            # 1,000 writes of 100 rows
    .venv/bin/python bench/poison.py --quick    # 100 writes of 10 rows
    .venv/bin/python bench/poison.py --json
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
import pyiceberg.io.pyarrow as arrow_io
import pyiceberg.utils.truncate as truncate
from pyiceberg.schema import Schema
from pyiceberg.types import DoubleType, LongType, NestedField, StringType

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds modules named like packages (bench/actors.py): keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from actors import ActorSystem, Promise  # noqa: E402
from cascade_rt.table import Flush, Stats, TableWriter, Write, ensure_table, open_catalog  # noqa: E402

POISON = "z" * 15 + "\ud7ff" + " and more"
SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "value", DoubleType(), required=False),
)


def _write(w: int, rows: int, poison: bool) -> pa.Table:
    ids = list(range(w * rows, (w + 1) * rows))
    names = [f"name-{i}" for i in ids]
    if poison:
        names[rows // 2] = POISON
    return pa.table({"id": pa.array(ids, pa.int64()), "name": pa.array(names), "value": [float(i) for i in ids]})


async def _case(home: Path, writes: int, rows: int, poisoned: bool) -> tuple[float, int, int]:
    """Seconds from the first write to the flush's answer; rows in the table; dead letters."""
    ensure_table(open_catalog(home), "default.t", SCHEMA)
    letters: list[Any] = []

    def dead_letter(records: list[Any], error: str, source: str, *, error_type: str | None = None) -> None:
        letters.extend(records)

    data = [_write(w, rows, poisoned and w == writes // 2) for w in range(writes)]
    async with ActorSystem("bench") as system:
        ref = await system.spawn(TableWriter, name="w", catalog=lambda: open_catalog(home), identifier="default.t",
                                 schema=SCHEMA, max_rows=10 * writes * rows, max_delay=600, dead_letter=dead_letter)
        promises = [Promise[Any]() for _ in data]
        started = time.perf_counter()
        for table, promise in zip(data, promises, strict=True):
            await ref.tell(Write(table, promise))
        await ref.ask(Flush(), timeout=600)
        for promise in promises:
            await promise.wait()
        seconds = time.perf_counter() - started
        stats = await ref.ask(Stats())
        if stats.commits != 1:
            raise SystemExit(f"expected one commit, got {stats.commits}")
    landed = open_catalog(home).load_table("default.t").scan().to_arrow().num_rows
    return seconds, landed, len(letters)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 writes of 10 rows, 2 rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.writes, args.rows, args.rounds = 100, 10, 2
    logging.getLogger("cascade_rt.table").setLevel(logging.ERROR)  # the warning for each dead letter
    arrow_io.truncate_upper_bound_text_string = truncate.truncate_upper_bound_text_string  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {"clean": [], "poisoned": []}
    total = args.writes * args.rows
    wrong = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for case in times:
                seconds, landed, letters = await _case(Path(tmp) / f"{case}-{n}", args.writes, args.rows,
                                                       case == "poisoned")
                expected = (total - 1, 1) if case == "poisoned" else (total, 0)
                if (landed, letters) != expected:
                    wrong.append(f"{case}: {landed} rows, {letters} dead letters; expected {expected}")
                times[case].append(seconds)
    clean, poisoned = (statistics.median(times[c]) for c in ("clean", "poisoned"))
    result = {"writes": args.writes, "rows_per_write": args.rows, "rounds": args.rounds,
              "clean_s": round(clean, 4), "poisoned_s": round(poisoned, 4), "ratio": round(poisoned / clean, 2),
              "wrong": wrong}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"group of {args.writes:,} writes x {args.rows:,} rows, median of {args.rounds}")
        print(f"{'case':<10} {'seconds':>9}")
        print(f"{'clean':<10} {clean:>9.3f}")
        print(f"{'poisoned':<10} {poisoned:>9.3f}   {poisoned / clean:.1f}x the clean group")
        for line in wrong:
            print("WRONG:", line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
