"""What an asset function may return, turned into the asset's Arrow schema."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from pandera.pandas import DataFrameModel, Field

from cascade_rt._registry import default_registry
from cascade_rt.ingestion import AssetSourceError, AssetValidationError, cascade_ingestion
from cascade_rt.ingestion._errors import RunCancelled
from cascade_rt.ingestion._extract import extract, rows_to_arrow
from cascade_rt.ingestion._token import CancelToken


class Typed(DataFrameModel):
    id: str = Field(nullable=False)
    at: datetime = Field(nullable=True)
    day: date = Field(nullable=True)
    amount: Decimal = Field(nullable=True)
    payload: str = Field(nullable=True)


@cascade_ingestion(table_name="typed", unique_key="id", validation_schema=Typed)
def typed_asset(partition_date: str) -> None:
    return None


default_registry().unregister("asset", "typed_asset")  # a fixture of this module, not an app asset
PLUS2 = timezone(timedelta(hours=2))


def run(produced: Any, tmp_path: Path, token: CancelToken | None = None) -> pa.Table:
    return extract(typed_asset, produced, pipelines_dir=tmp_path, token=token or CancelToken()).data


def test_dicts_become_typed_columns_and_aware_datetimes_keep_their_offset(tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "at": datetime(2024, 1, 1, 2, 0, tzinfo=PLUS2),
            "day": date(2024, 1, 1),
            "amount": Decimal("1.50"),
            "payload": {"k": [1, 2]},
            "unknown": 1,
        }
    ]
    data = run(iter(rows), tmp_path)
    assert data.schema.names == ["id", "at", "day", "amount", "payload"]
    row = data.to_pylist()[0]
    assert row["at"] == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert (row["day"], row["amount"], row["payload"]) == (date(2024, 1, 1), 1.5, '{"k":[1,2]}')


def test_a_dlt_resource_yielding_python_types_round_trips_through_dlt(tmp_path: Path) -> None:
    @dlt.resource(name="typed")
    def typed_rows():  # type: ignore[no-untyped-def]
        yield [
            {
                "id": "a",
                "at": datetime(2024, 1, 1, 2, 0, tzinfo=PLUS2),
                "day": date(2024, 5, 6),
                "amount": Decimal("2.25"),
                "payload": "p",
            }
        ]
        yield {"id": "b"}

    data = run(typed_rows(), tmp_path)
    assert data.column("id").to_pylist() == ["a", "b"]
    assert data.column("at")[0].as_py() == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert data.column("day")[0].as_py() == date(2024, 5, 6)
    assert data.column("amount").to_pylist() == [2.25, None]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(lambda: pa.table({"id": ["a", "b"], "amount": [1, 2]}), id="arrow"),
        pytest.param(lambda: pa.record_batch({"id": ["a", "b"], "amount": [1, 2]}), id="record_batch"),
        pytest.param(lambda: pd.DataFrame({"id": ["a", "b"], "amount": [1, 2]}), id="pandas"),
        pytest.param(lambda: pl.DataFrame({"id": ["a", "b"], "amount": [1, 2]}), id="polars"),
    ],
)
def test_frames_are_cast_to_the_schema(frame: Any, tmp_path: Path) -> None:
    data = run(frame(), tmp_path)
    assert data.column("amount").type == pa.float64()
    assert data.column("amount").to_pylist() == [1.0, 2.0]
    assert data.column("at").null_count == 2


def test_none_means_no_rows(tmp_path: Path) -> None:
    assert run(None, tmp_path).num_rows == 0


def test_unsupported_return_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        AssetSourceError, match="asset 'typed_asset' returned int; return a dlt source or resource"
    ):
        run(5, tmp_path)


def test_bad_values_name_column_type_value_and_row() -> None:
    with pytest.raises(
        AssetValidationError, match="column 'id' failed dtype\\('string'\\) with value 7 \\(row 1\\)"
    ) as info:
        rows_to_arrow("typed_asset", [{"id": "a"}, {"id": 7}], typed_asset.arrow_schema)
    assert info.value.failures == [{"column": "id", "check": "dtype('string')", "value": 7, "row": 1}]


def test_a_cancelled_token_stops_iteration(tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(RunCancelled):
        run(iter([{"id": "a"}]), tmp_path, token)


def test_commit_gate_and_cancel_exclude_each_other() -> None:
    token = CancelToken()
    token.begin_commit()
    assert token.cancel() is False
    late = CancelToken()
    assert late.cancel() is True
    with pytest.raises(RunCancelled):
        late.begin_commit()


def test_every_resource_of_a_source_is_loaded(tmp_path: Path) -> None:
    @dlt.source
    def two():  # type: ignore[no-untyped-def]
        @dlt.resource(name="left")
        def left():  # type: ignore[no-untyped-def]
            yield [{"id": f"l{i}"} for i in range(3)]

        @dlt.resource(name="right")
        def right():  # type: ignore[no-untyped-def]
            yield from ({"id": f"r{i}"} for i in range(2))

        return left, right

    out = extract(typed_asset, two(), pipelines_dir=tmp_path, token=CancelToken())
    assert sorted(out.data.column("id").to_pylist()) == ["l0", "l1", "l2", "r0", "r1"]
    assert out.files == 2


def test_a_dlt_resource_yielding_arrow_tables_is_read_from_its_parquet_files(tmp_path: Path) -> None:
    @dlt.resource(name="arrow_rows")
    def arrow_rows():  # type: ignore[no-untyped-def]
        yield pa.table({"id": ["a", "b"], "amount": [1.5, 2.5]})
        yield pa.table({"id": ["c"], "amount": [3.5]})

    out = extract(typed_asset, arrow_rows(), pipelines_dir=tmp_path, token=CancelToken())
    assert out.data.column("id").to_pylist() == ["a", "b", "c"]
    assert out.data.column("amount").to_pylist() == [1.5, 2.5, 3.5]
