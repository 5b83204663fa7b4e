"""Size tiers: how compaction and manifest merging tell which files are about the same size.

Files below a floor are one tier (tier 0); above it a tier spans a factor of ``ratio``. Merging
only within a tier keeps what a pass rewrites near the size of what it produces, so an item is
rewritten about ``log(size / floor) / log(ratio)`` times once past the floor, as in a tiered LSM tree.
"""

from __future__ import annotations

import math

__all__ = ("size_tier",)


def size_tier(size: int, floor: int, ratio: int = 4) -> int:
    """The tier of an item of ``size`` bytes: 0 below ``floor``, then one more per factor of ``ratio``."""
    floor = max(floor, 1)
    if size < floor:
        return 0
    return 1 + int(math.log(size / floor, ratio))
