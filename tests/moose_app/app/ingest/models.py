# Moose's Python template (app/ingest/models.py) with its imports renamed to cascade_rt.

from cascade_rt import Key, IngestPipeline, IngestPipelineConfig, StringToEnumMixin
from datetime import datetime
from typing import Optional, Annotated, Any
from pydantic import BaseModel, BeforeValidator
from enum import IntEnum, auto


class Baz(StringToEnumMixin, IntEnum):
    QUX = auto()
    QUUX = auto()


class Foo(BaseModel):
    primary_key: Key[str]
    timestamp: float
    baz: Baz
    optional_text: Optional[str] = None


class Bar(BaseModel):
    primary_key: Key[str]
    utc_timestamp: datetime
    baz: Baz
    has_text: bool
    text_length: int


fooModel = IngestPipeline[Foo](
    "Foo",
    IngestPipelineConfig(
        ingest_api=True, stream=True, table=False, dead_letter_queue=True
    ),
)

barModel = IngestPipeline[Bar](
    "Bar",
    IngestPipelineConfig(
        ingest_api=False, stream=True, table=True, dead_letter_queue=True
    ),
)
