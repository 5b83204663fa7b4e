"""String upper bounds: valid for every Unicode string, so no value can break a commit."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo
from pyiceberg.schema import Schema

from cascade_rt.table import commit_append, commit_upsert, ensure_table, query
from cascade_rt.table._bounds import truncate_upper_bound

# Every code point Python strings can hold in an Arrow string: no lone surrogates.
scalars = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # type: ignore[arg-type]


@given(scalars, st.integers(min_value=1, max_value=20))
def test_the_bound_is_encodable_short_and_not_below_the_value(value: str, length: int) -> None:
    bound = truncate_upper_bound(value, length)
    if bound is None:  # only when every kept code point is already the largest there is
        assert set(value[:length]) == {"\U0010ffff"}
        return
    bound.encode("utf-8")  # never a surrogate
    assert bound == value if len(value) <= length else len(bound) <= length
    assert bound >= value  # Python compares code points, as UTF-8 bytes order them
    assert bound.encode() >= value.encode()


def test_the_surrogate_gap_and_the_largest_code_point_carry() -> None:
    assert truncate_upper_bound("a" * 15 + "\ud7ff" + "tail", 16) == "a" * 15 + "\ue000"
    assert truncate_upper_bound("ab\U0010ffff\U0010ffffz", 4) == "ac"
    assert truncate_upper_bound("\U0010ffff" * 3, 2) is None
    assert truncate_upper_bound("short", 16) == "short"


def test_a_value_with_u_d7ff_as_its_16th_code_point_lands_and_is_found(catalog: Catalog, schema: Schema) -> None:
    table = ensure_table(catalog, "default.t", schema)
    tricky = "k" * 15 + "\ud7ff" + " and more"
    rows = pa.table({"id": pa.array([1, 2], pa.int64()), "name": [tricky, "plain"], "value": [1.0, 2.0]})
    commit_append(table, rows)
    commit_upsert(table, rows.slice(0, 1), ["id"])  # the upsert path writes statistics too
    scanned = table.scan(row_filter=EqualTo("name", tricky)).to_arrow()  # type: ignore[call-arg, arg-type]
    assert scanned["id"].to_pylist() == [1]  # the bound lets the file through for that value
    assert table.scan().to_arrow().num_rows == 2
    found = query(catalog, "SELECT count(*) AS n FROM t WHERE name = 'k' || repeat('k', 14) || chr(55295) || ' and more'")
    assert found["n"].to_pylist() == [1]
    assert pc.max(table.scan().to_arrow()["id"]).as_py() == 2
