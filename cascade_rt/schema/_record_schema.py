"""``RecordSchema``: a declaration compiled once into fields, Arrow/Iceberg/JSON schemas and a codec."""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import pyarrow as pa
from pyiceberg.schema import Schema as IcebergSchema

from ..batch import NO_DEFAULT, BatchCodec, FieldNode, TypeNode, arrow_type
from ._declarations import declaration_kind, model_node, pydantic_has_validators, struct_node
from ._export import iceberg_schema, json_schema
from ._pandera import pandera_node

__all__ = ("FieldSpec", "RecordSchema")

_KEY_KINDS = frozenset({"str", "int", "date", "datetime"})


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSpec:
    """One top-level field of a record schema.

    Attributes:
        name: its name on the wire and in Arrow/Iceberg.
        annotation: the declared annotation.
        arrow_type: its Arrow type.
        required: whether it is never null (Iceberg ``required``; a non-nullable Arrow field).
        doc: its description.
        is_key: whether it is part of the record key.
        default: the value used when the key is missing, or ``NO_DEFAULT``.
    """

    name: str
    annotation: Any
    arrow_type: pa.DataType
    required: bool
    doc: str | None
    is_key: bool
    default: Any = NO_DEFAULT


_cache: weakref.WeakKeyDictionary[type, dict[tuple[Any, ...], RecordSchema]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _key_tuple(key: str | Sequence[str] | None) -> tuple[str, ...]:
    if key is None:
        return ()
    if isinstance(key, str):
        return (key,)
    if not all(isinstance(k, str) for k in key):
        raise TypeError(f"key must be a field name or a sequence of field names, got {key!r}")
    return tuple(key)


class RecordSchema:
    """A record declaration compiled once: fields, Arrow, Iceberg and JSON schemas, and the codec.

    Build it with :meth:`RecordSchema.of`. Decoding is sync (it is CPU work) and thread-safe.
    """

    cls: type
    name: str
    kind: str
    fields: tuple[FieldSpec, ...]
    key_fields: tuple[str, ...]
    arrow_schema: pa.Schema

    @classmethod
    def of(cls, declaration: type, *, key: str | Sequence[str] | None = None, extra: str = "ignore") -> RecordSchema:
        """The compiled schema of ``declaration`` (cached: the same arguments give the same object).

        Args:
            declaration: a ``msgspec.Struct``, pydantic ``BaseModel`` or Pandera ``DataFrameModel`` class.
            key: the key field name(s), e.g. a batch asset's ``unique_key``. When fields are also
                marked ``Key[...]``, both must name the same fields.
            extra: ``"ignore"`` unknown keys in input, or ``"forbid"`` them.

        Raises:
            TypeError: for an unsupported declaration or a field type with no mapping (the message
                names class, field and type, e.g. ``Order.tags: set[int]``).
            ValueError: for a bad ``extra``, an unknown key field, or a ``key`` that disagrees
                with the ``Key[...]`` fields.
        """
        if extra not in ("ignore", "forbid"):
            raise ValueError(f"extra must be 'ignore' or 'forbid', got {extra!r}")
        keys = _key_tuple(key)
        cache_key = (keys, extra)
        with _lock:
            per_class = _cache.get(declaration) if isinstance(declaration, type) else None
            if per_class is not None and cache_key in per_class:
                return per_class[cache_key]
        schema = cls(declaration, keys, extra)
        with _lock:
            return _cache.setdefault(declaration, {}).setdefault(cache_key, schema)

    def __init__(self, declaration: type, key: tuple[str, ...], extra: str) -> None:
        kind = declaration_kind(declaration)
        checks: list[Any] = []
        if kind == "msgspec":
            root = struct_node(declaration)
        elif kind == "pydantic":
            root = model_node(declaration)
        else:
            root, checks = pandera_node(declaration, ())
        root = _apply_key(root, key)
        self.cls = declaration
        self.name = declaration.__name__
        self.kind = kind
        self.root = root
        self.extra = extra
        self.fields = tuple(
            FieldSpec(f.name, f.annotation, arrow_type(f.type), not f.type.nullable, f.doc, f.is_key, f.default)
            for f in root.fields
        )
        self.key_fields = tuple(f.name for f in root.fields if f.is_key)
        self.codec = BatchCodec(root, forbid_unknown=extra == "forbid", checks=checks)
        if kind == "pydantic" and pydantic_has_validators(declaration):
            self.codec.checks = (*self.codec.checks, _pydantic_validators(declaration, self.codec))
        self.arrow_schema = self.codec.arrow_schema

    def __repr__(self) -> str:
        return f"RecordSchema({self.name}, kind={self.kind!r}, fields={[f.name for f in self.fields]})"

    # -- schemas --------------------------------------------------------------------------------

    def iceberg_schema(self, metadata: bool = False) -> IcebergSchema:
        """The Iceberg schema; ``metadata=True`` adds ``_dlt_load_id``, ``_dlt_id``, ``_cascade_ingested_at``."""
        return iceberg_schema(self.root, metadata=metadata)

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema of one record on the wire (for OpenAPI), with descriptions and examples."""
        return json_schema(self.root)

    # -- data -------------------------------------------------------------------------------------

    def decode(self, body: bytes, format: str = "JSON_ARRAY") -> pa.RecordBatch:
        """Decode and validate ``body`` (``JSON``, ``JSON_ARRAY``, ``NDJSON`` or ``AUTO``).

        Raises:
            ValidationError: ``.errors`` names each bad record's index, JSON path and problem.
        """
        return self.codec.decode(body, format)

    def decode_records(self, records: Iterable[Any]) -> pa.RecordBatch:
        """Validate Python records (dicts, Structs or model instances) into a batch."""
        return self.codec.decode_records(records)

    def to_records(self, batch: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
        """The batch's records as dicts (datetimes aware, in UTC; JSON fields as values)."""
        return self.codec.to_records(batch)

    def to_objects(self, batch: pa.RecordBatch | pa.Table) -> list[Any]:
        """The batch's records as instances of the declaration (dicts for Pandera)."""
        records = self.codec.to_records(batch)
        if self.kind == "msgspec":
            return msgspec.convert(records, list[self.cls])  # type: ignore[name-defined]
        if self.kind == "pydantic":
            validate = self.cls.model_validate  # type: ignore[attr-defined]
            return [validate(r) for r in records]
        return records

    def encode_json(self, batch: pa.RecordBatch | pa.Table) -> list[bytes]:
        """One JSON object per record (datetimes RFC 3339), as Kafka clients would read it."""
        return self.codec.encode_json(batch)


def _apply_key(root: TypeNode, key: tuple[str, ...]) -> TypeNode:
    names = [f.name for f in root.fields]
    marked = tuple(f.name for f in root.fields if f.is_key)
    for k in key:
        if k not in names:
            raise ValueError(f"{root.name} has no field {k!r} to use as key; its fields are {names}")
    if key and marked and set(key) != set(marked):
        raise ValueError(
            f"{root.name}: key={list(key)!r} disagrees with the Key[...] fields {list(marked)!r}; "
            "name the same fields in both, or drop one"
        )
    chosen = set(key or marked)
    fields: list[FieldNode] = []
    for f in root.fields:
        if f.name in chosen:
            if f.type.kind not in _KEY_KINDS or f.type.nullable:
                raise TypeError(
                    f"{root.name}.{f.name} cannot be a key: a key must be a non-optional str, int, "
                    f"date or datetime"
                )
            f = dataclasses.replace(f, is_key=True)
        fields.append(f)
    return dataclasses.replace(root, fields=tuple(fields))


def _pydantic_validators(model: Any, codec: BatchCodec) -> Any:
    """A batch check running the model's own validators on each decoded record."""
    import pydantic

    def check(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[tuple[int | None, str, str]]]:
        errors: list[tuple[int | None, str, str]] = []
        dumped = []
        for i, record in enumerate(codec.to_records(batch)):
            try:
                instance = model.model_validate(record)
            except pydantic.ValidationError as exc:
                first = exc.errors()[0]
                path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
                errors.append((i, path, first["msg"]))
                continue
            dumped.append(instance.model_dump(by_alias=True))
        if errors:
            return batch, errors
        # Validators may rewrite values: the batch holds what they returned.
        return codec.rebuild(dumped), []

    return check
