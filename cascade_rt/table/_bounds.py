"""Upper bounds of string column statistics that every Unicode string can have.

A data file's ``upper_bounds`` for a string column is its largest value truncated to 16 code
points with the last one incremented, so that it stays an upper bound. pyiceberg 0.12 increments
without skipping the surrogate range: a value whose 16th code point is U+D7FF gets the bound
U+D800, which has no UTF-8 encoding, and every commit holding that value fails with
``UnicodeEncodeError`` (apache/iceberg-python#3880, open). :func:`truncate_upper_bound` does what
Iceberg's Java ``UnicodeUtil.truncateStringMax`` does: increment the last code point that can be,
past the surrogates to U+E000, drop the code points after it, and give no bound when every code
point is U+10FFFF (bounds are optional in the spec). :func:`install` puts it in place of
pyiceberg's; importing ``cascade_rt.table`` does so.
"""

from __future__ import annotations

__all__ = ("install", "truncate_upper_bound")

_SURROGATES = range(0xD800, 0xE000)
_MAX = 0x10FFFF


def truncate_upper_bound(value: str, length: int | None) -> str | None:
    """The shortest string of at most ``length`` code points that is >= ``value``, or None."""
    if length is None or len(value) <= length:
        return value
    result = value[:length]
    for i in range(len(result) - 1, -1, -1):
        point = ord(result[i]) + 1
        if point in _SURROGATES:
            point = _SURROGATES.stop
        if point <= _MAX:
            return result[:i] + chr(point)
    return None


def install() -> None:
    """Make pyiceberg's Parquet statistics use :func:`truncate_upper_bound`."""
    import pyiceberg.io.pyarrow as arrow_io

    setattr(arrow_io, "truncate_upper_bound_text_string", truncate_upper_bound)  # noqa: B010 - pyiceberg's module global
