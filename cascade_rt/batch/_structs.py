"""msgspec types generated from a :class:`TypeNode` tree.

Two families per schema: the *fast* types the hot path decodes into (``Struct(gc=False)``,
timestamps kept as strings for Arrow to cast, ``msgspec.Raw`` for free-form JSON) and the
*precise* types the slow path uses to name the first problem of each bad record (real
``datetime`` with ``Meta(tz=True)``, ``dict[str, Any]``).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Annotated, Any, Literal

import msgspec

from ._types import Constraints, FieldNode, TypeNode

__all__ = ("StructTypes", "build_types")

_counter = itertools.count()


def _meta(c: Constraints, kind: str) -> msgspec.Meta | None:
    kwargs: dict[str, Any] = {}
    if kind in ("int", "float", "decimal"):
        kwargs.update(c.bounds)
    if kind in ("str", "bytes", "list"):
        if c.min_length is not None:
            kwargs["min_length"] = c.min_length
        if c.max_length is not None:
            kwargs["max_length"] = c.max_length
    if kind == "str" and c.pattern is not None:
        kwargs["pattern"] = c.pattern
    return msgspec.Meta(**kwargs) if kwargs else None


def literal_choices(node: TypeNode) -> bool:
    """Whether ``node``'s allowed values are checked by msgspec (a ``Literal``) on the fast path."""
    choices = node.constraints.choices
    if choices is None or node.kind not in ("str", "int"):
        return False
    want = str if node.kind == "str" else int
    return all(type(v) is want for v in choices)


class StructTypes:
    """The fast and precise msgspec types of one struct node, with attribute names."""

    def __init__(self, node: TypeNode, forbid: bool, precise: bool) -> None:
        self.node = node
        # Attribute names are generated (f0, f1, ...) and renamed to the wire names, so any JSON
        # key works, including ones that are not Python identifiers.
        self.attrs = tuple(f"f{i}" for i in range(len(node.fields)))
        self.children: dict[int, StructTypes] = {}
        specs: list[tuple[Any, ...]] = []
        for attr, field in zip(self.attrs, node.fields, strict=True):
            typ = self._type(field.type, forbid, precise)
            if field.has_default:
                specs.append((attr, typ, self._default(field, typ)))
            else:
                specs.append((attr, typ))
        tag = "Precise" if precise else "Fast"
        self.type = msgspec.defstruct(
            node.name or f"Record{next(_counter)}",
            specs,
            rename=dict(zip(self.attrs, (f.name for f in node.fields), strict=True)),
            forbid_unknown_fields=forbid,
            kw_only=True,
            gc=False,
            module=f"cascade_rt.batch.{tag.lower()}",
        )

    def _type(self, node: TypeNode, forbid: bool, precise: bool) -> Any:
        kind = node.kind
        typ: Any
        if kind == "struct":
            child = StructTypes(node, forbid, precise)
            self.children[id(node)] = child
            typ = child.type
        elif kind == "list":
            assert node.item is not None
            typ = list[self._type(node.item, forbid, precise)]  # type: ignore[misc]
        elif kind == "json":
            if precise:
                typ = dict[str, Any] if node.json_object else Any
            else:
                # Raw cannot sit in a union; null is told apart when the column is built.
                return msgspec.Raw
        elif kind == "datetime":
            typ = Annotated[dt.datetime, msgspec.Meta(tz=True)] if precise else str
        elif kind == "date":
            typ = dt.date
        elif kind in ("float", "decimal"):
            typ = float
        elif literal_choices(node):
            typ = Literal[(*(node.constraints.choices or ()), *(name for name, _ in node.names))]
        else:
            typ = {"str": str, "int": int, "bool": bool, "bytes": bytes}[kind]
        meta = _meta(node.constraints, kind)
        if meta is not None:
            typ = Annotated[typ, meta]
        if node.nullable:
            typ = typ | None
        return typ

    def _default(self, field: FieldNode, typ: Any) -> Any:
        value = field.default
        if value is None or isinstance(value, str | int | float | bool | bytes):
            if field.type.kind == "json" and value is not None:
                return msgspec.Raw(msgspec.json.encode(value))
            return value
        # Anything else goes through JSON once, so the default has the decoded representation
        # (an aware datetime becomes its RFC 3339 text, a dict becomes Raw JSON, ...).
        raw = _ENCODER.encode(value)
        if field.type.kind == "json":
            return msgspec.Raw(raw)
        return msgspec.field(default_factory=lambda: msgspec.json.decode(raw, type=typ))


def build_types(root: TypeNode, forbid: bool) -> tuple[StructTypes, StructTypes]:
    """The (fast, precise) types of the record struct ``root``."""
    return StructTypes(root, forbid, precise=False), StructTypes(root, forbid, precise=True)


def _utc_naive(value: Any) -> Any:
    """``value`` with every naive ``datetime`` inside it taken as UTC (made aware)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    if isinstance(value, dict):
        return {k: _utc_naive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc_naive(v) for v in value]
    return value


def enc_hook(obj: Any) -> Any:
    """Encode what msgspec does not know natively: pydantic models, objects with ``isoformat``.

    A naive ``datetime`` in a pydantic model (``datetime.fromtimestamp(ts)`` in a transform, say)
    is taken as UTC, as ClickHouse takes it in Moose; JSON bodies still need a zone.
    """
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return _utc_naive(dump(by_alias=True))
    iso = getattr(obj, "isoformat", None)
    if iso is not None:
        return iso()
    tolist = getattr(obj, "tolist", None)
    if tolist is not None:
        return tolist()
    raise TypeError(f"cannot encode a {type(obj).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
