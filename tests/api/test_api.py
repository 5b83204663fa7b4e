"""Query APIs: placeholders, parameter validation, results, the per-snapshot cache, HTTP and OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel, Field

from cascade_rt import Api, IngestPipeline, Key, MooseClient, Runtime
from cascade_rt._registry import Registry
from cascade_rt.api import ParamsError, render

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[pytest.param(("asyncio", {}), id="asyncio"),
                        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop")])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """aiohttp (server and client) runs on asyncio only."""
    return request.param


class Order(BaseModel):
    id: Key[str]
    customer: str
    amount: float


class Params(BaseModel):
    customer: str
    min_amount: float = Field(default=0.0, ge=0)
    limit: int = Field(default=10, gt=0, le=100)


class Row(BaseModel):
    id: str
    amount: float


def _declare(registry: Registry) -> Any:
    orders = IngestPipeline[Order]("orders", {"table": True, "stream": True, "ingest_api": True}, registry=registry)

    def run(client: MooseClient, params: Params) -> Any:
        table = orders.get_table()
        return client.query.execute(
            "SELECT {id}, amount FROM {table} WHERE customer = {customer} AND amount >= {min} "
            "ORDER BY amount DESC LIMIT {limit}",
            {"id": table.cols.id, "table": table, "customer": params.customer, "min": params.min_amount,
             "limit": params.limit},
        )

    Api[Params, Row]("orders_by_customer", query_function=run, registry=registry)
    Api[Params, Row]("orders_by_customer", query_function=run, version="2", registry=registry)
    return orders


def test_values_become_bound_parameters_and_tables_quoted_identifiers(registry: Registry) -> None:
    orders = _declare(registry)
    sql, params = render("SELECT {col} FROM {t} WHERE customer = {c} AND x IN {xs} -- {{literal}}",
                         {"col": orders.get_table().cols.amount, "t": orders.get_table(),
                          "c": "x'; DROP TABLE orders; --", "xs": ["only"]})
    assert sql == 'SELECT "amount" FROM "orders" WHERE customer = $p0 AND x IN $p1 -- {literal}'
    assert params == {"p0": "x'; DROP TABLE orders; --", "p1": "only"}


def test_a_missing_placeholder_value_names_it(registry: Registry) -> None:
    with pytest.raises(KeyError, match=r"placeholder \{customer\} has no value; given: other"):
        render("SELECT * FROM t WHERE c = {customer}", {"other": 1})


def test_an_unknown_column_names_the_known_ones(registry: Registry) -> None:
    orders = _declare(registry)
    with pytest.raises(KeyError, match="table 'orders' has no column 'nope'; columns: id, customer, amount"):
        orders.get_table().cols["nope"]


def test_api_needs_both_types_and_a_pydantic_params_model(registry: Registry) -> None:
    with pytest.raises(TypeError, match=r"Api\[Params, Result\]"):
        Api[Params]  # type: ignore[misc]
    with pytest.raises(TypeError, match="needs its types"):
        Api("x", query_function=lambda c, p: [], registry=registry)
    with pytest.raises(TypeError, match="Params must be a pydantic BaseModel"):
        Api[int, Row]("x", query_function=lambda c, p: [], registry=registry)


def test_params_errors_name_each_parameter(registry: Registry) -> None:
    _declare(registry)
    api = registry.get("api", "orders_by_customer")
    assert api is not None
    with pytest.raises(ParamsError, match=r"customer: Field required; limit: Input should be less than or equal to 100"):
        api.params.parse({"limit": "500"})
    assert api.params.parse({"customer": "c1", "limit": "3"}).limit == 3


async def _seed(rt: Runtime) -> None:
    await rt.ingest("orders", [{"id": str(i), "customer": f"c{i % 2}", "amount": float(i)} for i in range(10)])
    await rt.flush()


async def test_get_api_validates_queries_and_answers_rows(registry: Registry, home: Path) -> None:
    _declare(registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await _seed(rt)
        port = await rt.serve("127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/orders_by_customer?customer=c1&min_amount=4&limit=2") as resp:
                assert resp.status == 200
                assert await resp.json() == [{"id": "9", "amount": 9.0}, {"id": "7", "amount": 7.0}]
            async with http.get(f"{base}/api/orders_by_customer/2?customer=c0&limit=1") as resp:
                assert (resp.status, await resp.json()) == (200, [{"id": "8", "amount": 8.0}])
            async with http.get(f"{base}/api/orders_by_customer?customer=c1&limit=abc") as resp:
                body = await resp.json()
                assert resp.status == 400
                assert body["details"][0]["parameter"] == "limit"
                assert "invalid query parameters: limit" in body["error"]
            async with http.get(f"{base}/api/orders_by_customer?customer=' OR 1=1 --") as resp:
                assert (resp.status, await resp.json()) == (200, [])
            async with http.get(f"{base}/api/nope") as resp:
                body = await resp.json()
                assert resp.status == 404
                assert body["known"] == ["/api/orders_by_customer", "/api/orders_by_customer/2"]
            async with http.get(f"{base}/api/orders_by_customer/9?customer=c1") as resp:
                assert resp.status == 404
            async with http.get(f"{base}/openapi.json") as resp:
                paths = (await resp.json())["paths"]
            get = paths["/api/orders_by_customer"]["get"]
            assert [p["name"] for p in get["parameters"]] == ["customer", "min_amount", "limit"]
            assert get["parameters"][0]["required"] is True
            assert get["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
            assert "/api/orders_by_customer/2" in paths
            assert "/ingest/orders" in paths


async def test_a_result_that_does_not_match_result_is_a_500_naming_the_field(registry: Registry, home: Path) -> None:
    Api[Params, Row]("broken", query_function=lambda client, params: [{"id": 1}], registry=registry)
    async with Runtime(home, registry=registry) as rt:
        port = await rt.serve("127.0.0.1", 0)
        handler = rt.query_apis()
        api = registry.get("api", "broken")
        with pytest.raises(RuntimeError, match=r"broken.*does not match Row: at `\$\[0\]\.id`"):
            handler._encode(api, [{"id": 1}])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/broken?customer=x") as resp:
                assert resp.status == 500


async def test_a_query_on_an_unchanged_table_does_not_rescan_it(registry: Registry, home: Path) -> None:
    _declare(registry)
    async with Runtime(home, registry=registry, commit_interval=0.05) as rt:
        await _seed(rt)
        client = MooseClient(rt.query_apis().engine)
        engine = rt.query_apis().engine
        sql = "SELECT count(*) AS n FROM {t}"
        table = registry.get("table", "orders")
        assert client.query.execute(sql, {"t": table}) == [{"n": 10}]
        assert client.query.execute(sql, {"t": table}) == [{"n": 10}]
        assert (engine.scans, engine.hits) == (1, 1)
        await rt.ingest("orders", [{"id": "new", "customer": "c9", "amount": 1.0}])
        await rt.flush()
        assert client.query.execute(sql, {"t": table}) == [{"n": 11}]
        assert engine.scans == 2


async def test_an_async_query_function_does_not_block_the_server(registry: Registry, home: Path) -> None:
    import threading

    import anyio

    started, release = threading.Event(), threading.Event()

    async def slow(client: MooseClient, params: Params) -> Any:
        started.set()
        release.wait(30)  # a long, blocking client.query.execute, as Moose's is
        return client.query.execute("SELECT 'x' AS id, 1.0 AS amount")

    Api[Params, Row]("slow", query_function=slow, registry=registry)
    async with Runtime(home, registry=registry) as rt:
        port = await rt.serve("127.0.0.1", 0)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http, anyio.create_task_group() as tg:
            answers: list[Any] = []

            async def ask() -> None:
                async with http.get("/api/slow?customer=c") as resp:
                    answers.append((resp.status, await resp.json()))

            tg.start_soon(ask)
            await anyio.to_thread.run_sync(started.wait, 30)
            async with http.get("/health") as resp:  # answered while the query function blocks
                assert resp.status == 200
            assert answers == []
            release.set()
        assert answers == [(200, [{"id": "x", "amount": 1.0}])]
