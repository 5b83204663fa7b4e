"""Moose's stream and table helpers: transform/consumer configs, routed messages, columns, inserts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Generic, Literal, TypeVar

import msgspec

__all__ = (
    "Column",
    "Columns",
    "ConsumerConfig",
    "FailedRecord",
    "InsertOptions",
    "InsertResult",
    "RoutedMessage",
    "TransformConfig",
    "insert_records",
)

T = TypeVar("T")
S = TypeVar("S", bound="_FunctionConfig")


class _FunctionConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    version: str | None = None
    dead_letter_queue: Any = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def coerce(cls: type[S], config: Any, *, owner: str) -> S:
        """``config`` as this class: ``None`` (defaults), an instance or a dict of its keys."""
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if isinstance(config, dict):
            try:
                return msgspec.convert(config, cls, strict=True)
            except msgspec.ValidationError as exc:
                raise ValueError(f"{owner}: invalid {cls.__name__}: {exc}") from None
        raise TypeError(f"{owner}: config must be a {cls.__name__} or a dict, got {type(config).__name__}")


class TransformConfig(_FunctionConfig):
    """A transform's options: ``version`` (two transforms to one destination need different
    versions), ``dead_letter_queue`` (where records it raises on go) and ``metadata``."""


class ConsumerConfig(_FunctionConfig):
    """A consumer's options: ``version`` and ``dead_letter_queue``, as for transforms."""


@dataclasses.dataclass(frozen=True)
class RoutedMessage:
    """``values`` (a record, a list or ``None``) addressed to ``destination``; made by ``stream.routed``."""

    destination: Any
    values: Any


class Column:
    """A table column in a query: ``{col}`` in ``client.query.execute`` becomes its quoted name."""

    __slots__ = ("name", "table")

    def __init__(self, table: str, name: str) -> None:
        self.table = table
        self.name = name

    def __repr__(self) -> str:
        return f"<Column {self.table}.{self.name}>"


class Columns:
    """A table's columns by attribute or by name; unknown names fail naming the known ones."""

    def __init__(self, table: str, names: list[str]) -> None:
        self._table = table
        self._columns = {name: Column(table, name) for name in names}

    def __getattr__(self, name: str) -> Column:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Column:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(
                f"table {self._table!r} has no column {name!r}; columns: {', '.join(self._columns)}"
            ) from None

    def __iter__(self) -> Iterator[Column]:
        return iter(self._columns.values())

    def __len__(self) -> int:
        return len(self._columns)


@dataclasses.dataclass
class InsertOptions:
    """How ``OlapTable.insert`` treats invalid records (Moose's ``InsertOptions``)."""

    allow_errors: int | None = None
    allow_errors_ratio: float | None = None
    strategy: Literal["fail-fast", "discard", "isolate"] = "fail-fast"
    validate: bool = True
    skip_validation_on_retry: bool = False


@dataclasses.dataclass
class FailedRecord(Generic[T]):
    record: T
    error: str
    index: int | None = None


@dataclasses.dataclass
class InsertResult(Generic[T]):
    successful: int
    failed: int
    total: int
    failed_records: list[FailedRecord[T]] | None = None


async def insert_records(schema: Any, sink: Any, records: Any, options: InsertOptions, *, owner: str) -> InsertResult[Any]:
    """Decodes ``records`` with ``schema`` per ``options.strategy`` and writes the valid ones to ``sink``."""
    from ..schema import ValidationError

    if options.strategy not in ("fail-fast", "discard", "isolate"):
        raise ValueError(f"{owner}: unknown insert strategy {options.strategy!r}; use fail-fast, discard or isolate")
    rows = [records] if isinstance(records, dict) or hasattr(records, "__struct_fields__") or hasattr(records, "model_dump") else list(records)
    failed: list[FailedRecord[Any]] = []
    try:
        batch = schema.decode_records(rows)
    except ValidationError as exc:
        if options.strategy == "fail-fast":
            raise
        # Find every bad record: decode one at a time (the error lists only the first problems).
        good = []
        for index, row in enumerate(rows):
            try:
                schema.decode_records([row])
            except ValidationError as one:
                entry = one.errors[0] if one.errors else {"message": str(one)}
                failed.append(FailedRecord(row, f"{entry.get('path', '$')}: {entry['message']}", index))
            else:
                good.append(row)
        too_many = (options.allow_errors is not None and len(failed) > options.allow_errors) or (
            options.allow_errors_ratio is not None and rows and len(failed) / len(rows) > options.allow_errors_ratio
        )
        if too_many:
            raise ValidationError(
                [{"index": f.index, "path": "$", "message": f.error} for f in failed[:100]]
            ) from exc
        batch = schema.decode_records(good) if good else None
    if batch is not None and batch.num_rows:
        await sink(batch)
    written = 0 if batch is None else batch.num_rows
    return InsertResult(
        successful=written, failed=len(failed), total=len(rows),
        failed_records=failed if options.strategy == "isolate" else None,
    )
