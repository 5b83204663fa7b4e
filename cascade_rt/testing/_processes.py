"""The commit processes a cascade-rt process runs (see ``TableWriter(commit_process=True)``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ("commit_processes",)

_MARK = b"cascade_rt.table._commit_worker"


def commit_processes(parent: int | None = None) -> list[int]:
    """Pids of the commit processes whose parent is ``parent`` (default: this process), sorted.

    Reads ``/proc``, so it finds nothing where there is none (it is for tests on Linux).
    """
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile, or not ours to read
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # the command name in (...) may hold spaces
        if ppid == parent and _MARK in cmdline:
            found.append(int(entry.name))
    return sorted(found)
