"""The HTTP ingest API (aiohttp): ``POST /ingest/{name}`` plus health, readiness, metrics, OpenAPI.

The HTTP layer reaches durability only through :class:`IngestEndpoint` and
:class:`ServerState`; see ``_handler`` for the acknowledgement contract and why decoding runs
inline.
"""

from ._app import DEFAULT_MAX_BODY as DEFAULT_MAX_BODY
from ._app import DEFAULT_WAIT_BUDGET as DEFAULT_WAIT_BUDGET
from ._app import TOKEN_ENV as TOKEN_ENV
from ._app import WAIT_BUDGET_ENV as WAIT_BUDGET_ENV
from ._app import build_app as build_app
from ._app import serve as serve
from ._body import BodyError as BodyError
from ._body import choose_format as choose_format
from ._body import gunzip as gunzip
from ._body import invalid_records as invalid_records
from ._errors import JSON as JSON
from ._errors import error_response as error_response
from ._errors import json_errors as json_errors
from ._openapi import build_openapi as build_openapi
from ._protocol import Backpressure as Backpressure
from ._protocol import IngestEndpoint as IngestEndpoint
from ._protocol import ServerState as ServerState
from ._protocol import StaticState as StaticState
from ._protocol import Unavailable as Unavailable
from ._protocol import admit_within as admit_within

__all__ = (
    "DEFAULT_MAX_BODY",
    "DEFAULT_WAIT_BUDGET",
    "JSON",
    "TOKEN_ENV",
    "WAIT_BUDGET_ENV",
    "Backpressure",
    "BodyError",
    "IngestEndpoint",
    "ServerState",
    "StaticState",
    "Unavailable",
    "admit_within",
    "build_app",
    "build_openapi",
    "choose_format",
    "error_response",
    "gunzip",
    "invalid_records",
    "json_errors",
    "serve",
)
