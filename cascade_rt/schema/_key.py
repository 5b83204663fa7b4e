"""``Key[T]``: marks the record key in msgspec, pydantic and Pandera declarations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

__all__ = ("KEY", "Key", "KeyMarker")


class KeyMarker:
    """The ``Annotated`` metadata that marks a key field (one shared instance, :data:`KEY`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Key"

    def __reduce__(self) -> str:
        return "KEY"


KEY = KeyMarker()


_T = TypeVar("_T")


class _Key:
    """Marks a key field: ``id: Key[str]`` is ``id: Annotated[str, KEY]``.

    Key fields are the table's identifier fields (its dedup key) and the stream's message key.
    The underlying type must be ``str``, ``int``, ``date`` or ``datetime`` and not optional. It is
    plain ``typing.Annotated`` metadata, so msgspec, pydantic and Pandera all accept it.
    """

    __slots__ = ()

    def __init__(self) -> None:
        raise TypeError("Key is used as an annotation, e.g. `id: Key[str]`; it has no instances")

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[item, KEY]


# Type checkers see ``Key[str]`` as what it is at run time, ``Annotated[str, KEY]``, so a field
# declared ``id: Key[str]`` takes a plain ``str``; at run time ``Key`` stays a class with that
# ``__class_getitem__``.
if TYPE_CHECKING:
    Key: TypeAlias = Annotated[_T, KEY]
else:
    Key = _Key
    Key.__name__ = Key.__qualname__ = "Key"
