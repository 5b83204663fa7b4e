"""The app the crash tests serve: an append-only pipeline and a deduplicated one."""

import msgspec

from cascade_rt import IngestPipeline, Key


class Plain(msgspec.Struct):
    id: str
    n: int


class Keyed(msgspec.Struct):
    id: Key[str]
    n: int


PlainPipeline = IngestPipeline[Plain]("Plain", {"table": True, "stream": True, "ingest_api": True})
KeyedPipeline = IngestPipeline[Keyed]("Keyed", {"table": {"deduplicate": True}, "stream": True, "ingest_api": True})
