"""Python annotations to :class:`~cascade_rt.batch.TypeNode` trees (DESIGN §3's type mapping)."""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import datetime as dt
import decimal
import enum
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import annotated_types as at
import msgspec

from ..batch import Constraints, TypeNode
from ._key import KeyMarker

__all__ = ("Resolved", "SchemaTypeError", "describe", "resolve")

_PRIMITIVES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    dt.datetime: "datetime",
    dt.date: "date",
    bytes: "bytes",
    decimal.Decimal: "decimal",
}


class SchemaTypeError(TypeError):
    """A declared type that has no mapping; names class, field and type (``Order.tags: set[int]``)."""

    def __init__(self, owner: str, field: str, annotation: Any, reason: str) -> None:
        self.owner, self.field, self.annotation = owner, field, annotation
        super().__init__(f"cannot compile `{owner}.{field}: {describe(annotation)}`: {reason}")


def describe(tp: Any) -> str:
    """A readable spelling of a type: ``set[int]``, ``Optional[str]``."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__qualname__ if tp.__module__ != "builtins" else tp.__name__
    text = repr(tp)
    return re.sub(r"\b(typing|collections\.abc|datetime|decimal)\.", "", text)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """An annotation resolved: its node and the field-level facts found in its metadata."""

    node: TypeNode
    is_key: bool = False
    doc: str | None = None
    examples: tuple[Any, ...] = ()


def _constraints_of(meta: Any) -> tuple[Constraints, dict[str, Any]]:
    """Constraints and extra facts (doc, examples, key) from one ``Annotated`` metadata item."""
    extra: dict[str, Any] = {}
    c = Constraints()
    if isinstance(meta, KeyMarker):
        extra["is_key"] = True
    elif isinstance(meta, msgspec.Meta):
        c = Constraints(
            ge=meta.ge, le=meta.le, gt=meta.gt, lt=meta.lt,
            min_length=meta.min_length, max_length=meta.max_length, pattern=meta.pattern,
        )
        if meta.description:
            extra["doc"] = meta.description
        if meta.examples:
            extra["examples"] = tuple(meta.examples)
    elif isinstance(meta, at.Interval):
        c = Constraints(ge=meta.ge, le=meta.le, gt=meta.gt, lt=meta.lt)
    elif isinstance(meta, at.Ge):
        c = Constraints(ge=meta.ge)
    elif isinstance(meta, at.Le):
        c = Constraints(le=meta.le)
    elif isinstance(meta, at.Gt):
        c = Constraints(gt=meta.gt)
    elif isinstance(meta, at.Lt):
        c = Constraints(lt=meta.lt)
    elif isinstance(meta, at.Len):
        c = Constraints(min_length=meta.min_length or None, max_length=meta.max_length)
    elif isinstance(meta, at.MinLen):
        c = Constraints(min_length=meta.min_length)
    elif isinstance(meta, at.MaxLen):
        c = Constraints(max_length=meta.max_length)
    elif (pattern := getattr(meta, "pattern", None)) is not None and isinstance(pattern, str):
        c = Constraints(pattern=pattern)
    # pydantic FieldInfo inside Annotated (``Annotated[int, Field(ge=0)]``): its own metadata.
    for inner in getattr(meta, "metadata", None) or ():
        ic, iextra = _constraints_of(inner)
        c = c.merge(ic)
        extra.update(iextra)
    if type(meta).__module__.startswith("pydantic") and hasattr(meta, "description"):
        if meta.description:
            extra["doc"] = meta.description
        if getattr(meta, "examples", None):
            extra["examples"] = tuple(meta.examples)
    return c, extra


def resolve(tp: Any, owner: str, field: str, nested: Callable[[type], TypeNode | None]) -> Resolved:
    """Resolve ``tp`` (declared as ``owner.field``) to a node.

    Args:
        nested: returns the struct node of a nested declaration class (Struct, model), or None.

    Raises:
        SchemaTypeError: for a type with no mapping.
    """
    constraints = Constraints()
    extra: dict[str, Any] = {}
    nullable = False
    original = tp
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            args = typing.get_args(tp)
            for meta in tp.__metadata__:
                c, e = _constraints_of(meta)
                constraints = constraints.merge(c)
                extra.update(e)
            tp = args[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != len(typing.get_args(tp)) - 1 or len(members) != 1:
                raise SchemaTypeError(owner, field, original, "unions other than `T | None` are not supported")
            nullable = True
            tp = members[0]
            continue
        break
    node = _node(tp, owner, field, original, nested)
    if nullable and not node.nullable:
        node = dataclasses.replace(node, nullable=True)
    if constraints != Constraints():
        node = dataclasses.replace(node, constraints=node.constraints.merge(constraints))
    return Resolved(node, bool(extra.get("is_key")), extra.get("doc"), tuple(extra.get("examples", ())))


def _takes_names(tp: type) -> bool:
    from ._moose_types import StringToEnumMixin

    return issubclass(tp, StringToEnumMixin)


def _node(tp: Any, owner: str, field: str, original: Any, nested: Callable[[type], TypeNode | None]) -> TypeNode:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return TypeNode("json", nullable=True, py=tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = tuple(m.value for m in tp)
        kinds = {_PRIMITIVES.get(type(v)) for v in values}
        if len(kinds) == 1 and kinds <= {"str", "int"}:
            kind = kinds.pop() or "str"
            names = tuple((m.name, m.value) for m in tp) if kind == "int" and _takes_names(tp) else ()
            return TypeNode(kind, constraints=Constraints(choices=values), py=tp, names=names)
        raise SchemaTypeError(owner, field, original, "only enums of str or int values are supported")
    if origin is Literal:
        kinds = {_PRIMITIVES.get(type(v)) for v in args}
        if len(kinds) == 1 and kinds <= {"str", "int", "bool"}:
            return TypeNode(kinds.pop() or "str", constraints=Constraints(choices=tuple(args)), py=tp)
        raise SchemaTypeError(owner, field, original, "a Literal must hold values of one type (str or int)")
    if tp in _PRIMITIVES:
        return TypeNode(_PRIMITIVES[tp], py=tp)
    if origin in (list, list, typing.Sequence, cabc.Sequence) or tp in (list,):
        if not args:
            raise SchemaTypeError(owner, field, original, "a list needs an item type, e.g. list[str]")
        item = resolve(args[0], owner, f"{field}[]", nested)
        return TypeNode("list", item=item.node, py=tp)
    if origin in (dict, dict, cabc.Mapping) or tp is dict:
        if args and args[0] is not str:
            raise SchemaTypeError(owner, field, original, "only dict[str, Any] (stored as JSON text) is supported")
        return TypeNode("json", json_object=True, py=tp)
    if isinstance(tp, type):
        node = nested(tp)
        if node is not None:
            return node
    kind = describe(origin or tp)
    raise SchemaTypeError(
        owner, field, original,
        f"`{kind}` has no Arrow/Iceberg mapping; use str, int, float, bool, datetime, date, bytes, "
        "Decimal, list[T], dict[str, Any], Any or a nested Struct/model",
    )
