"""Read a whole branch to Arrow, applying position deletes with numpy.

pyiceberg 0.12 applies position deletes batch by batch with a Python ``range`` over every row
of the data file and a hash lookup per batch: a 1 M-row file with 50 k deleted rows reads in
≈ 0.5 s instead of ≈ 0.2 s. Here each data file with deletes is read whole without them (row i
is position i), and one boolean mask drops the deleted positions. Files without deletes, and
tables without any, go through pyiceberg's own reader unchanged. Used by ``read_branch`` and
``query``; plain pyiceberg readers see the same rows (pinned by ``tests/table/test_scan.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.refs import MAIN_BRANCH

from ._deletes import read_deleted_positions

_PARALLEL_FILES = 4


def scan_arrow(table: Table, ref: str = MAIN_BRANCH) -> pa.Table:
    """All live rows of ``ref`` as one Arrow table (empty for a never-written main).

    Rows come file by file in scan-plan order, as pyiceberg's ``scan().to_arrow()`` returns them.
    """
    scan = table.scan() if ref == MAIN_BRANCH else table.scan().use_ref(ref)  # main may have no snapshot yet
    tasks = list(scan.plan_files())
    projected = scan.projection()
    metadata, io = scan.table_metadata, scan.io
    if not any(task.delete_files for task in tasks):
        return ArrowScan(metadata, io, projected, AlwaysTrue()).to_table(tasks)

    def read(task: FileScanTask) -> pa.Table:
        rows = ArrowScan(metadata, io, projected, AlwaysTrue()).to_table(tasks=[FileScanTask(task.file)])
        if not task.delete_files:
            return rows
        deleted = read_deleted_positions(io, task.delete_files, task.file.file_path)
        keep = np.ones(rows.num_rows, dtype=bool)
        keep[deleted[deleted < rows.num_rows]] = False
        return rows.filter(pa.array(keep))

    with ThreadPoolExecutor(max_workers=min(_PARALLEL_FILES, len(tasks)), thread_name_prefix="cascade-scan") as pool:
        parts = list(pool.map(read, tasks))
    return pa.concat_tables(parts)
