"""Fixtures of the ingestion tests: the loopback REST server and the test app's assets."""

from __future__ import annotations

from collections.abc import Iterator

import ingestion_shop_app as shop
import pytest
from ingestion_rest_server import RestServer, make_items

from cascade_rt._registry import default_registry
from cascade_rt.ingestion import IngestionAsset

# The test app's assets join the process-wide registry only while one of these tests runs, so
# other suites (a Runtime picking up "everything defined so far") never see them.
SHOP_ASSETS = [value for value in vars(shop).values() if isinstance(value, IngestionAsset)]
for _asset in SHOP_ASSETS:
    default_registry().unregister("asset", _asset.name)


@pytest.fixture(autouse=True)
def shop_assets() -> Iterator[list[IngestionAsset]]:
    registry = default_registry()
    for asset in SHOP_ASSETS:
        registry.register("asset", asset.name, asset)
    yield SHOP_ASSETS
    for asset in SHOP_ASSETS:
        registry.unregister("asset", asset.name)


@pytest.fixture(scope="session")
def rest_server_session() -> Iterator[RestServer]:
    server = RestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rest_server(rest_server_session: RestServer) -> RestServer:
    """The shared server, reset: 25 items over 3 pages, no events."""
    server = rest_server_session
    server.items = make_items(25)
    server.events = []
    server.requests = []
    server.page_size = 10
    shop.STATE["base_url"] = server.base_url
    shop.STATE["calls"] = 0
    return server
