"""The generic base of every declaration: ``Kind[Schema](name, config)``.

``OlapTable[Orders]`` returns a subclass bound to the schema class (cached), so
``OlapTable[Orders]("orders")`` knows its schema when ``__init__`` runs, which
``typing.Generic`` alone cannot offer (it sets ``__orig_class__`` only afterwards).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, Generic, TypeVar

from .._registry import Registry, default_registry
from ._config import coerce_config, versioned_name

T = TypeVar("T")

_PACKAGE_PREFIX = __name__.rsplit(".", 2)[0] + "."


class Declaration(Generic[T]):
    """A named, schema-typed definition that registers itself when created."""

    kind: ClassVar[str] = ""
    schema_class: ClassVar[Any] = None
    _bound: ClassVar[dict[tuple[type, Any], type]] = {}

    name: str
    defined_in: str
    config: Any
    resource_name: str

    def __class_getitem__(cls, schema: Any) -> Any:
        if isinstance(schema, TypeVar):
            return super().__class_getitem__(schema)  # type: ignore[misc]
        key = (cls, schema)
        bound = Declaration._bound.get(key)
        if bound is None:
            label = getattr(schema, "__name__", repr(schema))
            bound = type(f"{cls.__name__}[{label}]", (cls,), {"schema_class": schema, "__module__": cls.__module__})
            Declaration._bound[key] = bound
        return bound

    def _declare(self, name: str, registry: Registry | None, config: Any = None, config_cls: Any = None) -> None:
        """Checks the name and schema, coerces ``config`` into ``config_cls`` and names the resource.

        ``resource_name`` is ``name``, versioned when the config has a ``version``.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self._kind_label()} needs a non-empty name, got {name!r}")
        if self.schema_class is None:
            raise TypeError(
                f"{self._kind_label()} {name!r} needs a schema: write "
                f"{type(self).__name__}[MySchema]({name!r}, ...)"
            )
        self.name = name
        self.defined_in = _caller_location()
        self._registry = registry if registry is not None else default_registry()
        if config_cls is not None:
            self.config = coerce_config(config, config_cls, owner=f"{self._kind_label()} {name!r}")
            self.resource_name = versioned_name(name, self.config.version)
        else:
            self.resource_name = name

    def _register(self) -> None:
        self._registry.register(self.kind, self.resource_name, self)

    def _forget(self) -> None:
        self._registry.unregister(self.kind, self.resource_name)

    @classmethod
    def _kind_label(cls) -> str:
        return cls.__mro__[0].__name__.split("[", 1)[0]

    @property
    def schema(self) -> Any:
        """The compiled ``RecordSchema`` of this definition's schema class."""
        from ..schema import RecordSchema

        return RecordSchema.of(self.schema_class, **self._schema_options())

    def _schema_options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _caller_location() -> str:
    """``file:line`` of the first frame outside cascade_rt: where the user declared the thing."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_PACKAGE_PREFIX):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
