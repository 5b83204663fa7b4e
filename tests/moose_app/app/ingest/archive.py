# A versioned OlapTable filled by a consumer of the Bar stream, deduplicated on its key.

from app.ingest.models import Bar, Baz, barModel
from cascade_rt import ConsumerConfig, OlapConfig, OlapTable, ReplacingMergeTreeEngine
from pydantic import BaseModel
from cascade_rt import Key


class BarArchive(BaseModel):
    primary_key: Key[str]
    baz: Baz
    text_length: int


archive = OlapTable[BarArchive](
    "BarArchive",
    OlapConfig(version="1.0", engine=ReplacingMergeTreeEngine(), order_by_fields=["primary_key"]),
)


async def archive_bar(bar: Bar) -> None:
    await archive.insert([BarArchive(primary_key=bar.primary_key, baz=bar.baz, text_length=bar.text_length)])


barModel.get_stream().add_consumer(archive_bar, ConsumerConfig(version="1"))
