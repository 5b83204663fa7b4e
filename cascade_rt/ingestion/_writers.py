"""Route asset commits through the tables' writer actors (the runtime's single committers)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pyarrow as pa

from ._decorator import IngestionAsset
from ._runner import MergeFn


def writer_merge(writer_for: Callable[[str], Any | Awaitable[Any]], *, timeout: float = 3600.0) -> MergeFn:
    """A ``merge`` for :class:`AssetRunner` that asks the table's ``TableWriter`` to commit.

    Args:
        writer_for: Returns the writer ref of ``"namespace.table"`` (or an awaitable of it).
        timeout: The ask timeout for one merge commit.

    Returns:
        ``await merge(table, data, keys, branch) -> CommitResult``, sending ``Merge(data, keys,
        branch)`` to the writer, which commits after its pending writes, in one snapshot.
    """
    from ..table import Merge

    async def merge(table: Any, data: pa.Table, keys: Sequence[str], branch: str) -> Any:
        ref = writer_for(".".join(table.name()))
        if inspect.isawaitable(ref):
            ref = await ref
        return await ref.ask(Merge(data, list(keys), branch), timeout=timeout)

    return merge


async def spawn_asset_writer(system: Any, asset: IngestionAsset, *, catalog: Any, parent: Any = None) -> Any:
    """Spawn the ``TableWriter`` of ``asset``'s table (named ``table:<namespace.table>``).

    The writer deduplicates on the asset's ``unique_key`` and creates the table from the asset's
    schema and partition spec.
    """
    from ..table import TableWriter

    return await system.spawn(
        TableWriter,
        name=f"table:{asset.identifier}",
        parent=parent,
        catalog=catalog,
        identifier=asset.identifier,
        schema=asset.iceberg_schema,
        key_fields=[asset.unique_key],
        deduplicate=True,
        partition_by=asset.partition_spec,
    )
