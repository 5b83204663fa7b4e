"""The live web console of ``cascade-rt serve`` (``GET /``, ``/console/...``) and its ``/admin/...`` JSON.

Server-rendered pages, one small script, Server-Sent Events for live updates and inline SVG; the
data comes from plain functions (``_collect``, ``_tables``, ``_assets``, ``_dead_letters``) that
the JSON endpoints answer as they are.
"""

from ._collect import overview as overview
from ._collect import pipelines as pipelines
from ._dead_letters import dead_letter_groups as dead_letter_groups
from ._dead_letters import replay_group as replay_group
from ._rates import Rates as Rates
from ._routes import OPENAPI_PATHS as OPENAPI_PATHS
from ._routes import Console as Console
from ._routes import add_console as add_console
from ._state import ADMIN_TOKEN_ENV as ADMIN_TOKEN_ENV
from ._state import ConsoleState as ConsoleState

__all__ = (
    "ADMIN_TOKEN_ENV",
    "OPENAPI_PATHS",
    "Console",
    "ConsoleState",
    "Rates",
    "add_console",
    "dead_letter_groups",
    "overview",
    "pipelines",
    "replay_group",
)
