"""How deep a JSON body nests, and the error of our own for one too deep to decode.

msgspec decodes arrays and objects recursively and raises ``RecursionError`` once a body nests
past what the interpreter's recursion limit leaves it (about 900 levels from a shallow stack;
fewer from a deep one). The decoders catch that and report :data:`TOO_DEEP` instead, a 400 for
the client. Every body nesting at most :data:`MAX_NESTING` levels decodes; deeper ones decode
as long as msgspec can take them. The depth is measured only on that error path, never on the
hot path.
"""

from __future__ import annotations

import itertools
import re

__all__ = ("MAX_NESTING", "TOO_DEEP", "nesting_depth", "too_deep")

MAX_NESTING = 256
"""Arrays and objects nested this deep (the record itself is level 1) always decode."""

TOO_DEEP = f"JSON nests deeper than {MAX_NESTING} levels"
"""The message for a body (or record) msgspec cannot decode for its nesting."""

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (strings skipped; 0 for a scalar)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets), initial=0))


def too_deep(body: bytes) -> str:
    """The message for ``body``, which raised ``RecursionError`` while decoding."""
    depth = nesting_depth(body)
    if depth > MAX_NESTING:
        return TOO_DEEP
    # Within the limit but past what the stack left (decoded from deep inside another call).
    return f"JSON nests too deeply to decode here ({depth} levels)"
