# A query API in the shape of Moose's template (app/apis/bar.py), over the Bar table.

from cascade_rt import MooseClient, Api
from pydantic import BaseModel, Field
from typing import Optional, Literal
from app.ingest.models import barModel


class QueryParams(BaseModel):
    order_by: Optional[Literal["text_length", "utc_timestamp"]] = Field(
        default="text_length", description="Must be one of: text_length, utc_timestamp"
    )
    limit: Optional[int] = Field(default=5, gt=0, le=100, description="Must be between 1 and 100")
    baz: Optional[int] = None


class QueryResult(BaseModel):
    primary_key: str
    baz: int
    has_text: bool
    text_length: int


def run(client: MooseClient, params: QueryParams):
    table = barModel.get_table()
    query = """
    SELECT primary_key, baz, has_text, text_length
    FROM {table}
    WHERE {baz} IS NULL OR baz = {baz}
    ORDER BY {order_by} DESC, primary_key
    LIMIT {limit}
    """
    return client.query.execute(query, {
        "table": table,
        "baz": params.baz,
        "order_by": table.cols[params.order_by],
        "limit": params.limit,
    })


def run_v1(client: MooseClient, params: QueryParams):
    return [{**row, "text_length": row["text_length"] + 1000} for row in run(client, params)]


bar = Api[QueryParams, QueryResult](name="bar", query_function=run)
bar_v1 = Api[QueryParams, QueryResult](name="bar", query_function=run_v1, version="1")
