"""Pandera models (pandas and polars): seed 2 unchanged, checks enforced, custom checks kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandera.pandas as pap
import pandera.polars as papl
import polars as pl
import pytest
from pandera.pandas import DataFrameModel, Field

from cascade_rt.schema import Key, RecordSchema, ValidationError


# Seed 2, unchanged.
class RawMyData(DataFrameModel):
    """Raw data from my API."""

    id: str = Field(nullable=False, unique=True, description="Unique identifier")
    created_at: datetime = Field(nullable=False, description="Record creation timestamp")
    value: int = Field(ge=0, le=100, description="Data value")
    status: str | None = Field(nullable=True, description="Optional status")


def _row(i: int, **over: object) -> dict[str, object]:
    return {"id": f"r{i}", "created_at": "2024-06-01T10:00:00+02:00", "value": i, "status": None, **over}


def test_seed_schema_compiles_with_unique_key() -> None:
    schema = RecordSchema.of(RawMyData, key="id")
    assert schema.kind == "pandera"
    assert schema.key_fields == ("id",)
    assert [(f.name, f.required, f.doc) for f in schema.fields] == [
        ("id", True, "Unique identifier"),
        ("created_at", True, "Record creation timestamp"),
        ("value", True, "Data value"),
        ("status", False, "Optional status"),
    ]
    assert schema.json_schema()["description"] == "Raw data from my API."


def test_seed_schema_decodes_and_converts_offsets_to_utc() -> None:
    schema = RecordSchema.of(RawMyData, key="id")
    batch = schema.decode_records([_row(1), {k: v for k, v in _row(2).items() if k != "status"}])
    records = schema.to_objects(batch)
    assert records[0]["created_at"].isoformat() == "2024-06-01T08:00:00+00:00"
    assert records[1]["status"] is None


@pytest.mark.parametrize(
    ("row", "path", "message"),
    [
        (_row(1, value=101), "$.value", "Expected `int` <= 100"),
        (_row(1, value=-1), "$.value", "Expected `int` >= 0"),
        (_row(1, id=None), "$.id", "Expected `str`, got `null`"),
        (_row(1, created_at="2024-06-01T10:00:00"), "$.created_at", "Expected `datetime` with a timezone component"),
    ],
)
def test_seed_schema_checks_are_enforced(row: dict[str, object], path: str, message: str) -> None:
    with pytest.raises(ValidationError, match="Expected") as info:
        RecordSchema.of(RawMyData, key="id").decode_records([_row(0), row])
    assert info.value.errors == [{"index": 1, "path": path, "message": message}]


def test_unique_is_checked_within_the_batch() -> None:
    with pytest.raises(ValidationError, match="Duplicate value 'r1'") as info:
        RecordSchema.of(RawMyData).decode_records([_row(1), _row(2), _row(1), _row(1)])
    assert info.value.errors == [
        {"index": 2, "path": "$.id", "message": "Duplicate value 'r1' (first at record 0)"},
        {"index": 3, "path": "$.id", "message": "Duplicate value 'r1' (first at record 0)"},
    ]


class Tagged(pap.DataFrameModel):
    id: Key[str] = pap.Field(unique=True)
    kind: str = pap.Field(isin=["a", "b"])
    score: float = pap.Field(isin=[0.5, 1.5])
    code: str = pap.Field(str_matches=r"[A-Z]{2}")
    amount: int = pap.Field(in_range={"min_value": 1, "max_value": 9})

    @pap.check("amount")
    def odd(cls, series: Any) -> Any:
        return series % 2 == 1

    @pap.dataframe_check
    def kind_matches_score(cls, df: Any) -> Any:  # type: ignore[misc]  # pandera types the bare decorator loosely
        return ~((df["kind"] == "a") & (df["score"] > 1))


GOOD = {"id": "x", "kind": "a", "score": 0.5, "code": "AB", "amount": 3}


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"kind": "c"}, "$.kind", "Invalid enum value 'c'"),
        ({"score": 2.5}, "$.score", "Expected one of [0.5, 1.5], got 2.5"),
        ({"code": "xAB"}, "$.code", "Expected `str` matching regex '^(?:[A-Z]{2})'"),
        ({"amount": 10}, "$.amount", "Expected `int` <= 9"),
        ({"amount": 4}, "$.amount", "Value 4 failed check `odd`"),
        ({"score": 1.5}, "$", "Failed check `kind_matches_score`"),
    ],
)
def test_pandera_checks_and_custom_checks_run(change: dict[str, object], path: str, message: str) -> None:
    schema = RecordSchema.of(Tagged)
    assert schema.key_fields == ("id",)
    with pytest.raises(ValidationError, match="record 1") as info:
        schema.decode_records([{**GOOD, "id": "y"}, {**GOOD, **change}])
    assert info.value.errors == [{"index": 1, "path": path, "message": message}]


def test_key_argument_must_agree_with_key_annotation() -> None:
    assert RecordSchema.of(Tagged, key="id").key_fields == ("id",)
    with pytest.raises(ValueError, match=r"key=\['code'\] disagrees with the Key\[...\] fields \['id'\]"):
        RecordSchema.of(Tagged, key="code")
    with pytest.raises(ValueError, match="RawMyData has no field 'nope' to use as key"):
        RecordSchema.of(RawMyData, key="nope")
    with pytest.raises(TypeError, match=r"RawMyData\.status cannot be a key"):
        RecordSchema.of(RawMyData, key="status")


class PolarsData(papl.DataFrameModel):
    id: Key[int] = papl.Field(unique=True, description="id")
    name: str = papl.Field(str_matches=r"[a-z]+")
    at: datetime
    note: str | None = papl.Field(nullable=True)

    @papl.check("name")
    def short(cls, data: Any) -> Any:
        return data.lazyframe.select(pl.col(data.key).str.len_chars() < 6)

    @papl.dataframe_check
    def id_positive(cls, data: Any) -> Any:  # type: ignore[misc]  # pandera types the bare decorator loosely
        return data.lazyframe.select(pl.col("id") > 0)


def test_polars_models_compile_and_run_their_checks() -> None:
    schema = RecordSchema.of(PolarsData)
    assert schema.key_fields == ("id",)
    assert [f.required for f in schema.fields] == [True, True, True, False]
    row = {"id": 1, "name": "abc", "at": "2024-01-01T05:00:00+05:00"}
    batch = schema.decode_records([row])
    assert schema.to_records(batch)[0]["at"].isoformat() == "2024-01-01T00:00:00+00:00"
    with pytest.raises(ValidationError, match="failed check `short`") as info:
        schema.decode_records([row, {**row, "id": 2, "name": "abcdefg"}, {**row, "id": -3}])
    assert info.value.errors == [
        {"index": 1, "path": "$.name", "message": "Value 'abcdefg' failed check `short`"},
        {"index": 2, "path": "$", "message": "Failed check `id_positive`"},
    ]
