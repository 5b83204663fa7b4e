"""Validated Arrow record batches from JSON bodies and Python records (the hot path)."""

from ._codec import FORMATS as FORMATS
from ._codec import BatchCheck as BatchCheck
from ._codec import BatchCodec as BatchCodec
from ._errors import ValidationError as ValidationError
from ._types import NO_DEFAULT as NO_DEFAULT
from ._types import Constraints as Constraints
from ._types import FieldNode as FieldNode
from ._types import TypeNode as TypeNode
from ._types import arrow_field as arrow_field
from ._types import arrow_type as arrow_type

__all__ = (
    "FORMATS",
    "NO_DEFAULT",
    "BatchCheck",
    "BatchCodec",
    "Constraints",
    "FieldNode",
    "TypeNode",
    "ValidationError",
    "arrow_field",
    "arrow_type",
)
