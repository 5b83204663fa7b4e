"""Reading table properties: Iceberg keeps them as strings, and a bad one names itself.

Every maintenance and write setting of a table is a table property (Iceberg's own names where
Iceberg has one, ``cascade.*`` otherwise). These readers return the default when the property is
unset and raise a ``ValueError`` naming the property and its value when it does not parse.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ("bool_property", "int_property", "number_property")


def number_property(properties: Mapping[str, str], name: str, default: float, kind: type[int] | type[float] = int) -> float:
    """The property ``name`` as a non-negative ``kind`` (``default`` when unset).

    Raises:
        ValueError: a value that is not one, naming the property.
    """
    raw = properties.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"table property {name!r} must be a{'n integer' if kind is int else ' number'}, "
                         f"got {raw!r}") from None
    if value < 0:
        raise ValueError(f"table property {name!r} must not be negative, got {raw!r}")
    return value


def int_property(properties: Mapping[str, str], name: str, default: int) -> int:
    """The property ``name`` as an integer of either sign (``default`` when unset).

    Raises:
        ValueError: a value that is not an integer, naming the property.
    """
    raw = properties.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"table property {name!r} must be an integer, got {raw!r}") from None


def bool_property(properties: Mapping[str, str], name: str, default: bool) -> bool:
    """The property ``name`` as ``true`` or ``false``, in any case (``default`` when unset).

    Raises:
        ValueError: any other value, naming the property.
    """
    raw = properties.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"table property {name!r} must be true or false, got {raw!r}")
    return value == "true"
