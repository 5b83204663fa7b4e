"""Asset commits routed through a real TableWriter actor."""

from __future__ import annotations

from pathlib import Path

import ingestion_shop_app as shop
import pytest

from actors import ActorSystem
from cascade_rt.ingestion import AssetRunner, spawn_asset_writer, writer_merge
from cascade_rt.table import open_catalog

pytestmark = pytest.mark.anyio


async def test_runner_merges_through_the_table_writer(tmp_path: Path) -> None:
    catalog = open_catalog(tmp_path)
    async with ActorSystem("test") as system:
        ref = await spawn_asset_writer(system, shop.plain_rows, catalog=catalog)
        asked = []

        def writer_for(identifier: str):  # type: ignore[no-untyped-def]
            asked.append(identifier)
            return ref

        runner = AssetRunner(home=tmp_path, catalog=catalog, merge=writer_merge(writer_for))
        result = await runner.run_asset("plain_rows", partition_date="2024-03-01", branch="dev")
        again = await runner.run_asset("plain_rows", partition_date="2024-03-01", branch="dev")
    assert asked == ["raw.plain", "raw.plain"]
    assert (result.status, result.rows_inserted, again.rows_updated) == ("success", 2, 2)
    table = catalog.load_table("raw.plain")
    assert table.scan().use_ref("dev").to_arrow().num_rows == 2
    assert table.metadata.current_snapshot_id is None or table.scan().to_arrow().num_rows == 0
