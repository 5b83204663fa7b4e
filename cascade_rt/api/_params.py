"""Query-string parameters validated into a pydantic ``Params`` model, errors naming the parameter."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

__all__ = ("ParamsError", "ParamsModel")


class ParamsError(ValueError):
    """Query parameters that do not fit ``Params``; ``.errors`` holds ``{"path", "message"}`` entries."""

    def __init__(self, api: str, errors: list[dict[str, Any]]) -> None:
        self.api = api
        self.errors = errors
        listing = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors)
        super().__init__(f"{api}: invalid query parameters: {listing}")


def _is_list(annotation: Any) -> bool:
    for tp in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(tp) in (list, tuple, set, frozenset) or tp in (list, tuple, set):
            return True
    return False


class ParamsModel:
    """How one ``Params`` model reads a query string (multi-valued fields: every value)."""

    def __init__(self, model: Any, *, owner: str) -> None:
        from pydantic import BaseModel

        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{owner}: Params must be a pydantic BaseModel, got {model!r}")
        self.model = model
        self.owner = owner
        self.lists = {
            (info.alias or name) for name, info in model.model_fields.items() if _is_list(info.annotation)
        }

    def parse(self, query: Mapping[str, str] | Any) -> Any:
        """``query`` (a multidict, or a dict of str) as a ``Params`` instance.

        Raises:
            ParamsError: naming each bad or missing parameter.
        """
        from pydantic import ValidationError

        data: dict[str, Any] = {}
        getall = getattr(query, "getall", None)
        for key in query:
            if key in data:
                continue
            data[key] = list(getall(key)) if getall is not None and key in self.lists else (
                [query[key]] if key in self.lists else query[key])
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            errors = [
                {"parameter": ".".join(str(p) for p in e["loc"]) or "$", "path": "$." + ".".join(str(p) for p in e["loc"]),
                 "message": e["msg"]}
                for e in exc.errors()
            ]
            raise ParamsError(self.owner, errors) from None

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()  # type: ignore[no-any-return,unused-ignore]
