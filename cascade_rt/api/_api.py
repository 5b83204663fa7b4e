"""``Api[Params, Result]``: a query API declared as in Moose, served at ``GET /api/{name}``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from .._registry import Registry, default_registry

__all__ = ("Api", "ApiConfig", "ConsumptionApi", "EgressConfig")


class ApiConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A query API's options: ``version`` (served at ``/api/{name}/{version}``) and ``metadata``."""

    version: str | None = None
    metadata: dict[str, Any] | None = None
    path: str | None = None


P = TypeVar("P")
R = TypeVar("R")


class Api(Generic[P, R]):
    """A query API: ``Api[Params, Result]("bar", query_function=run, version="1")``.

    ``GET /api/bar`` (``/api/bar/1`` when versioned) validates the query string into ``Params``
    (a pydantic model; 400 naming each bad parameter), calls ``query_function(client, params)``
    (sync functions run in a worker thread; ``client.query.execute(sql, {...})`` runs DuckDB SQL
    over the runtime's tables) and answers its result, validated against ``Result`` (a list of
    rows or one). The unversioned path of a name that only has versioned APIs serves the only one.
    """

    kind = "api"
    params_type: Any = None
    result_type: Any = None

    def __class_getitem__(cls, items: Any) -> Any:
        if not isinstance(items, tuple) or len(items) != 2:
            raise TypeError(f"use {cls.__name__}[Params, Result](name=..., query_function=...) with both types")
        params, result = items
        return type(f"{cls.__name__}[{_label(params)}, {_label(result)}]", (cls,),
                    {"params_type": params, "result_type": result, "__module__": cls.__module__})

    def __init__(self, name: str, query_function: Callable[..., Any], config: ApiConfig | dict[str, Any] | None = None,
                 version: str | None = None, *, registry: Registry | None = None, **legacy: Any) -> None:
        owner = f"Api {name!r}"
        if not isinstance(name, str) or not name:
            raise TypeError(f"Api needs a non-empty name, got {name!r}")
        if self.params_type is None:
            raise TypeError(f"{owner} needs its types: write Api[Params, Result]({name!r}, query_function=...)")
        if legacy:
            raise TypeError(f"{owner}: unknown arguments {', '.join(sorted(legacy))}")
        if not callable(query_function):
            raise TypeError(f"{owner}: query_function must be a function (client, params), got {type(query_function).__name__}")
        if isinstance(config, dict):
            config = msgspec.convert(config, ApiConfig, strict=True)
        config = config or ApiConfig()
        if version is not None:
            config = msgspec.structs.replace(config, version=version)
        if config.path is not None:
            raise ValueError(f"{owner}: a custom `path` is not supported; query APIs answer on /api/{{name}}[/{{version}}]")
        from ._params import ParamsModel

        self.name = name
        self.config = config
        self.query_function = query_function
        self.is_async = inspect.iscoroutinefunction(query_function)
        self.params = ParamsModel(self.params_type, owner=owner)
        self.result = _result_adapter(self.result_type)
        self.resource_name = f"{name}:{config.version}" if config.version else name
        self._registry = registry if registry is not None else default_registry()
        self._registry.register(self.kind, self.resource_name, self)

    @property
    def version(self) -> str | None:
        return self.config.version

    @property
    def metadata(self) -> dict[str, Any]:
        return self.config.metadata or {}

    @property
    def path(self) -> str:
        return f"/api/{self.name}" + (f"/{self.config.version}" if self.config.version else "")

    def __repr__(self) -> str:
        return f"<Api {self.resource_name!r}>"


def _label(tp: Any) -> str:
    return getattr(tp, "__name__", repr(tp))


def _result_adapter(result_type: Any) -> Any:
    from pydantic import TypeAdapter

    return None if result_type is None or result_type is Any else TypeAdapter(result_type)


ConsumptionApi = Api
"""Moose's deprecated name of ``Api``."""
EgressConfig = ApiConfig
"""Moose's deprecated name of ``ApiConfig``."""
