"""Query APIs: ``Api[Params, Result]`` served at ``GET /api/{name}``, DuckDB over the tables."""

from ._api import Api as Api
from ._api import ApiConfig as ApiConfig
from ._api import ConsumptionApi as ConsumptionApi
from ._api import EgressConfig as EgressConfig
from ._client import MooseClient as MooseClient
from ._client import QueryClient as QueryClient
from ._client import render as render
from ._engine import QueryEngine as QueryEngine
from ._http import ApiHandler as ApiHandler
from ._params import ParamsError as ParamsError

__all__ = (
    "Api",
    "ApiConfig",
    "ApiHandler",
    "ConsumptionApi",
    "EgressConfig",
    "MooseClient",
    "ParamsError",
    "QueryClient",
    "QueryEngine",
    "render",
)
