"""``DeadLetterModel[T]``: a dead letter as Moose's DLQ consumers and transforms receive it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

import msgspec
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr

__all__ = ("DeadLetterModel",)

T = TypeVar("T")


class DeadLetterModel(BaseModel, Generic[T]):
    """A record that failed, with why, where and when (Moose's ``DeadLetterModel``).

    Fields are read in snake_case or in Moose's camelCase (``originalRecord``, ``errorMessage``,
    ``errorType``, ``failedAt``) and written in camelCase by ``model_dump(by_alias=True)``.
    ``source`` is ``"api"``, ``"transform"`` or ``"table"`` as in Moose; ``source_detail`` says
    which (``"ingest:Foo"``, ``"Foo.transform:foo_to_bar"``).
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    original_record: Any = Field(validation_alias=AliasChoices("original_record", "originalRecord"),
                                 serialization_alias="originalRecord")
    error_message: str = Field(validation_alias=AliasChoices("error_message", "errorMessage"),
                               serialization_alias="errorMessage")
    error_type: str = Field(validation_alias=AliasChoices("error_type", "errorType"),
                            serialization_alias="errorType")
    failed_at: dt.datetime = Field(validation_alias=AliasChoices("failed_at", "failedAt"),
                                   serialization_alias="failedAt")
    source: str
    source_detail: str | None = Field(default=None, validation_alias=AliasChoices("source_detail", "sourceDetail"),
                                      serialization_alias="sourceDetail")
    _t: Any = PrivateAttr(default=None)

    @classmethod
    def from_letter(cls, letter: Any, record_type: Any = None) -> DeadLetterModel[Any]:
        """Builds the model from a runtime dead letter (``cascade_rt.stream.DeadLetterRecord``)."""
        detail = letter.source
        model = cls(
            original_record=letter.original_record, error_message=letter.error_message,
            error_type=letter.error_type, failed_at=letter.failed_at,
            source=moose_source(detail), source_detail=detail,
        )
        model._t = record_type
        return model

    def as_typed(self) -> T:
        """The original record as ``T`` (validated; raises if it does not fit, as Moose's does)."""
        record_type = self._t
        if record_type is None:
            args = type(self).__pydantic_generic_metadata__.get("args") or ()
            record_type = args[0] if args else None
        if record_type is None or isinstance(record_type, TypeVar):
            raise TypeError("as_typed() needs the record type: use DeadLetterModel[MyModel]")
        if isinstance(record_type, type) and issubclass(record_type, BaseModel):
            return record_type.model_validate(self.original_record)  # type: ignore[return-value]
        return msgspec.convert(self.original_record, record_type, strict=False)  # type: ignore[no-any-return]


def moose_source(detail: str) -> str:
    """Moose's ``source`` for one of ours: ``ingest:X`` → api, ``X.transform:f``/consumer → transform,
    anything else (a table or stream delivery) → table."""
    if detail.startswith("ingest:"):
        return "api"
    if ".transform:" in detail or ".consumer:" in detail or ".multi_transform:" in detail:
        return "transform"
    return "table"
