"""Record schemas: one declaration (msgspec, pydantic or Pandera) compiled once."""

from ..batch import ValidationError as ValidationError
from ._annotations import SchemaTypeError as SchemaTypeError
from ._key import Key as Key
from ._moose_types import ClickHouseCodec as ClickHouseCodec
from ._moose_types import ClickhouseDefault as ClickhouseDefault
from ._moose_types import ClickHouseTTL as ClickHouseTTL
from ._moose_types import Float32 as Float32
from ._moose_types import Float64 as Float64
from ._moose_types import Int8 as Int8
from ._moose_types import Int16 as Int16
from ._moose_types import Int32 as Int32
from ._moose_types import Int64 as Int64
from ._moose_types import LowCardinality as LowCardinality
from ._moose_types import StringToEnumMixin as StringToEnumMixin
from ._moose_types import UInt8 as UInt8
from ._moose_types import UInt16 as UInt16
from ._moose_types import UInt32 as UInt32
from ._moose_types import UInt64 as UInt64
from ._moose_types import clickhouse_default as clickhouse_default
from ._record_schema import FieldSpec as FieldSpec
from ._record_schema import RecordSchema as RecordSchema

__all__ = (
    "ClickHouseCodec",
    "ClickHouseTTL",
    "ClickhouseDefault",
    "FieldSpec",
    "Float32",
    "Float64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Key",
    "LowCardinality",
    "RecordSchema",
    "SchemaTypeError",
    "StringToEnumMixin",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "ValidationError",
    "clickhouse_default",
)
