"""Batch checks in Arrow: uniqueness, timestamp and date bounds, allowed values of other types."""

from __future__ import annotations

import datetime as dt

import pandera.pandas  # noqa: F401 - sets PYARROW_IGNORE_TIMEZONE=1
import pytest

from cascade_rt.batch import BatchCodec, Constraints, FieldNode, TypeNode, ValidationError

T = TypeNode
PLUS2 = dt.timezone(dt.timedelta(hours=2))


def _codec(*fields: FieldNode) -> BatchCodec:
    return BatchCodec(T("struct", name="Row", fields=fields))


def test_timestamp_bounds_honour_the_bound_offset() -> None:
    # The bound is 02:00+02:00 = 00:00Z; pa.scalar under PYARROW_IGNORE_TIMEZONE would read 02:00Z.
    codec = _codec(FieldNode("at", T("datetime", constraints=Constraints(ge=dt.datetime(2024, 1, 1, 2, tzinfo=PLUS2)))))
    assert codec.decode(b'[{"at":"2024-01-01T00:00:00Z"},{"at":"2024-01-01T01:00:00+01:00"}]').num_rows == 2
    with pytest.raises(ValidationError, match="Expected `datetime` >= 2024-01-01T02:00:00\\+02:00") as info:
        codec.decode(b'[{"at":"2024-01-01T00:00:00Z"},{"at":"2023-12-31T23:59:59Z"}]')
    assert info.value.errors == [
        {"index": 1, "path": "$.at", "message": "Expected `datetime` >= 2024-01-01T02:00:00+02:00"}
    ]


def test_date_bounds() -> None:
    codec = _codec(FieldNode("d", T("date", constraints=Constraints(lt=dt.date(2024, 1, 1)))))
    with pytest.raises(ValidationError, match="Expected `date` < 2024-01-01") as info:
        codec.decode(b'[{"d":"2023-12-31"},{"d":"2024-01-01"}]')
    assert info.value.errors[0]["index"] == 1


def test_allowed_float_values() -> None:
    codec = _codec(FieldNode("x", T("float", nullable=True, constraints=Constraints(choices=(0.5, 1.0)))))
    assert codec.decode(b'[{"x":0.5},{"x":null},{"x":1}]').num_rows == 3
    with pytest.raises(ValidationError, match=r"Expected one of \[0.5, 1.0\], got 2.0"):
        codec.decode(b'[{"x":0.5},{"x":2}]')


def test_unique_ignores_nulls_and_names_the_first_occurrence() -> None:
    codec = _codec(FieldNode("k", T("int", nullable=True, constraints=Constraints(unique=True))))
    assert codec.decode(b'[{"k":1},{"k":null},{"k":null},{"k":2}]').num_rows == 4
    with pytest.raises(ValidationError, match="Duplicate value 2") as info:
        codec.decode(b'[{"k":2},{"k":1},{"k":2}]')
    assert info.value.errors == [{"index": 2, "path": "$.k", "message": "Duplicate value 2 (first at record 0)"}]


def test_unique_timestamps_compare_instants_not_text() -> None:
    codec = _codec(FieldNode("at", T("datetime", constraints=Constraints(unique=True))))
    with pytest.raises(ValidationError, match="Duplicate value"):
        codec.decode(b'[{"at":"2024-01-01T02:00:00+02:00"},{"at":"2024-01-01T00:00:00Z"}]')


def test_constraints_that_would_be_dropped_fail_at_compile() -> None:
    inner = T("struct", name="In", fields=(FieldNode("d", T("date", constraints=Constraints(ge=dt.date(2024, 1, 1)))),))
    with pytest.raises(TypeError, match=r"Row\.inner: uniqueness, timestamp/date bounds .* top-level fields only"):
        _codec(FieldNode("inner", inner))
