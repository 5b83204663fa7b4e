"""msgspec Structs and pydantic models compiled to :class:`~cascade_rt.batch.TypeNode` trees."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from ..batch import NO_DEFAULT, FieldNode, TypeNode
from ._annotations import resolve

__all__ = ("Declaration", "declaration_kind", "model_node", "pydantic_has_validators", "struct_node")


@dataclasses.dataclass(frozen=True)
class Declaration:
    """A compiled declaration: its kind, record node and extra batch checks."""

    kind: str
    root: TypeNode
    checks: tuple[Any, ...] = ()


def _is_pydantic(cls: Any) -> bool:
    try:
        import pydantic
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)


def _is_pandera(cls: Any) -> bool:
    if not isinstance(cls, type):
        return False
    return any(
        c.__name__ == "DataFrameModel" and c.__module__.startswith("pandera") for c in cls.__mro__
    )


def declaration_kind(cls: Any) -> str:
    """``msgspec``, ``pydantic`` or ``pandera``; TypeError for anything else."""
    if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
        return "msgspec"
    if _is_pydantic(cls):
        return "pydantic"
    if _is_pandera(cls):
        return "pandera"
    shown = cls.__name__ if isinstance(cls, type) else f"an instance of `{type(cls).__name__}`"
    raise TypeError(
        f"RecordSchema.of() needs a msgspec.Struct, pydantic BaseModel or Pandera DataFrameModel "
        f"class, got {shown}"
    )


def _doc(cls: type) -> str | None:
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else None


class _Nested:
    """Resolves nested Struct/model classes, refusing recursive types."""

    def __init__(self) -> None:
        self.active: set[type] = set()

    def __call__(self, cls: type) -> TypeNode | None:
        if issubclass(cls, msgspec.Struct):
            build: Callable[[type, _Nested], TypeNode] = struct_node
        elif _is_pydantic(cls):
            build = model_node
        else:
            return None
        if cls in self.active:
            raise TypeError(f"`{cls.__name__}` refers to itself; recursive types have no Arrow schema")
        self.active.add(cls)
        try:
            return build(cls, self)
        finally:
            self.active.discard(cls)


def struct_node(cls: type, nested: _Nested | None = None) -> TypeNode:
    """The struct node of a msgspec Struct (wire names from its ``rename``)."""
    nested = nested or _Nested()
    nested.active.add(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = []
    for f in msgspec.structs.fields(cls):
        r = resolve(hints[f.name], cls.__name__, f.name, nested)
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        else:
            default = NO_DEFAULT
        fields.append(FieldNode(f.encode_name, r.node, default, r.doc, r.examples, r.is_key, hints[f.name]))
    return TypeNode("struct", name=cls.__name__, fields=tuple(fields), py=cls, doc=_doc(cls))


def model_node(cls: type, nested: _Nested | None = None) -> TypeNode:
    """The struct node of a pydantic v2 model (wire names from aliases)."""
    from pydantic_core import PydanticUndefined

    nested = nested or _Nested()
    nested.active.add(cls)
    fields = []
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        tp = info.annotation
        if info.metadata:
            tp = Annotated[(tp, *info.metadata)]
        r = resolve(tp, cls.__name__, name, nested)
        if info.is_required():
            default = NO_DEFAULT
        elif info.default is not PydanticUndefined:
            default = info.default
        else:
            default = info.default_factory()
        examples: tuple[Any, ...] = tuple(info.examples or ()) or r.examples
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not examples and "example" in extra:
            examples = (extra["example"],)
        elif not examples and isinstance(extra.get("examples"), list):
            examples = tuple(extra["examples"])
        wire = info.alias or name
        fields.append(FieldNode(wire, r.node, default, info.description or r.doc, examples, r.is_key, tp))
    return TypeNode("struct", name=cls.__name__, fields=tuple(fields), py=cls, doc=_doc(cls))


def pydantic_has_validators(cls: type) -> bool:
    """Whether a model (or a nested one) has validators that the fast path cannot run."""
    seen: set[type] = set()

    def walk(model: type) -> bool:
        if model in seen:
            return False
        seen.add(model)
        decorators = model.__pydantic_decorators__  # type: ignore[attr-defined]
        if (
            decorators.field_validators
            or decorators.model_validators
            or decorators.validators
            or decorators.root_validators
        ):
            return True
        for info in model.model_fields.values():  # type: ignore[attr-defined]
            if _has_validator_metadata(info.annotation) or any(_is_validator(m) for m in info.metadata):
                return True
            for sub in _classes_in(info.annotation):
                if _is_pydantic(sub) and walk(sub):
                    return True
        return False

    return walk(cls)


def _is_validator(meta: Any) -> bool:
    return type(meta).__module__ == "pydantic.functional_validators"


def _has_validator_metadata(tp: Any) -> bool:
    if typing.get_origin(tp) is Annotated and any(_is_validator(m) for m in tp.__metadata__):
        return True
    return any(_has_validator_metadata(a) for a in typing.get_args(tp))


def _classes_in(tp: Any) -> list[type]:
    if isinstance(tp, type):
        return [tp]
    return [c for a in typing.get_args(tp) for c in _classes_in(a)]


