# A versioned OlapTable filled by a consumer of the Bar stream, deduplicated on its key (the row
# archived last wins, by `archived_at`), keeping 90 days of rows.

from datetime import UTC, datetime

from app.ingest.models import Bar, Baz, barModel
from cascade_rt import ConsumerConfig, OlapConfig, OlapTable, ReplacingMergeTreeEngine
from pydantic import BaseModel
from cascade_rt import Key


class BarArchive(BaseModel):
    primary_key: Key[str]
    baz: Baz
    text_length: int
    archived_at: datetime


archive = OlapTable[BarArchive](
    "BarArchive",
    OlapConfig(version="1.0", engine=ReplacingMergeTreeEngine(ver="archived_at"), order_by_fields=["primary_key"],
               ttl="archived_at + INTERVAL 90 DAY"),
)


async def archive_bar(bar: Bar) -> None:
    await archive.insert([BarArchive(primary_key=bar.primary_key, baz=bar.baz, text_length=bar.text_length,
                                     archived_at=datetime.now(UTC))])


barModel.get_stream().add_consumer(archive_bar, ConsumerConfig(version="1"))
