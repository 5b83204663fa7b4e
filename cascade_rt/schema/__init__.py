"""Record schemas: one declaration (msgspec, pydantic or Pandera) compiled once."""

from ..batch import ValidationError as ValidationError
from ._annotations import SchemaTypeError as SchemaTypeError
from ._key import Key as Key
from ._record_schema import FieldSpec as FieldSpec
from ._record_schema import RecordSchema as RecordSchema

__all__ = ("FieldSpec", "Key", "RecordSchema", "SchemaTypeError", "ValidationError")
