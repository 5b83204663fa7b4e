"""The type model every declaration compiles to, and its Arrow mapping.

A :class:`TypeNode` is a declaration-neutral description of one value: msgspec Structs, pydantic
models and Pandera models all compile to the same tree, so the decoder, the Arrow and Iceberg
schemas and the JSON Schema are built from one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

__all__ = ("NO_DEFAULT", "Constraints", "FieldNode", "TypeNode", "arrow_field", "arrow_type")

PRIMITIVE_KINDS = frozenset({"str", "int", "float", "bool", "datetime", "date", "bytes", "decimal"})
KINDS = PRIMITIVE_KINDS | {"json", "list", "struct"}


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclasses.dataclass(frozen=True, slots=True)
class Constraints:
    """Value constraints; every one set here is enforced by the decoder."""

    ge: Any = None
    le: Any = None
    gt: Any = None
    lt: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[Any, ...] | None = None
    unique: bool = False

    def merge(self, other: Constraints) -> Constraints:
        """Return these constraints with ``other``'s set values layered on top."""
        changes = {
            f.name: getattr(other, f.name)
            for f in dataclasses.fields(other)
            if (value := getattr(other, f.name)) is not None and value is not False
        }
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def bounds(self) -> dict[str, Any]:
        """The numeric/ordering bounds that are set, by name."""
        return {k: v for k in ("ge", "le", "gt", "lt") if (v := getattr(self, k)) is not None}


@dataclasses.dataclass(frozen=True, slots=True)
class TypeNode:
    """One value's type.

    Attributes:
        kind: one of ``str int float bool datetime date bytes decimal json list struct``.
        nullable: whether null is a valid value.
        item: the element type of a ``list``.
        fields: the members of a ``struct``.
        name: the struct's name (used for generated types and messages).
        constraints: value constraints.
        json_object: for ``json``, whether the value must be a JSON object (``dict[str, Any]``).
        py: the declared Python type (for messages and ``to_objects``).
        doc: a struct's description (its class docstring).
        names: ``(name, value)`` pairs of an int enum that also takes its members' names (Moose's
            ``StringToEnumMixin``): a name in the input is stored as its value.
    """

    kind: str
    nullable: bool = False
    item: TypeNode | None = None
    fields: tuple[FieldNode, ...] = ()
    name: str = ""
    constraints: Constraints = Constraints()
    json_object: bool = False
    py: Any = None
    doc: str | None = None
    names: tuple[tuple[str, Any], ...] = ()

    def walk(self) -> Iterator[TypeNode]:
        """Yield this node and every node nested in it."""
        yield self
        if self.item is not None:
            yield from self.item.walk()
        for f in self.fields:
            yield from f.type.walk()


@dataclasses.dataclass(frozen=True, slots=True)
class FieldNode:
    """One named member of a struct.

    Attributes:
        name: the field's name on the wire (JSON key and Arrow column).
        type: its type.
        default: the value used when the key is missing, or ``NO_DEFAULT`` (the key is required).
        doc: its description.
        examples: example values for the JSON Schema.
        is_key: whether it is (part of) the record key.
        annotation: the declared annotation, as written.
    """

    name: str
    type: TypeNode
    default: Any = NO_DEFAULT
    doc: str | None = None
    examples: tuple[Any, ...] = ()
    is_key: bool = False
    annotation: Any = None

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


_ARROW_PRIMITIVES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "decimal": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "bytes": pa.binary(),
    "json": pa.string(),
}


def arrow_type(node: TypeNode) -> pa.DataType:
    """The Arrow type of ``node`` (DESIGN §3: list items are named ``element``)."""
    if node.kind == "list":
        assert node.item is not None
        return pa.list_(pa.field("element", arrow_type(node.item), nullable=node.item.nullable))
    if node.kind == "struct":
        return pa.struct([arrow_field(f) for f in node.fields])
    return _ARROW_PRIMITIVES[node.kind]


def arrow_field(field: FieldNode) -> pa.Field:
    """The Arrow field of ``field``: non-nullable unless its type is nullable."""
    metadata = {"doc": field.doc} if field.doc else None
    return pa.field(field.name, arrow_type(field.type), nullable=field.type.nullable, metadata=metadata)
