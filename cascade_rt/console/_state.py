"""What the console keeps between requests: rates, the last reading, replayed dead letters, sessions."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from ._rates import Rates
from ._readings import Readings, read

__all__ = ("ADMIN_TOKEN_ENV", "ConsoleState")

log = logging.getLogger("cascade_rt.console")

ADMIN_TOKEN_ENV = "CASCADE_ADMIN_TOKEN"


@dataclass
class ConsoleState:
    """The console of one HTTP app over one runtime.

    Attributes:
        runtime: The running ``Runtime``.
        admin_token: Token that unlocks actions (``None``: the console is read-only).
        rates: Counter history for rates and trends.
        replayed: Per dead-letter queue, the ids of letters replayed (hidden from the groups);
            kept in ``replayed_file`` (``<home>/console/replayed.json``) so a restart, which
            shows the queues' retained letters again, does not offer them for replay twice.
        sessions: Ids of browser sessions signed in with the admin token.
    """

    runtime: Any
    admin_token: str | None = None
    rates: Rates = field(default_factory=Rates)
    replayed: dict[str, set[str]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    last: Readings | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    replayed_file: Path | None = None

    @classmethod
    def create(cls, runtime: Any, admin_token: str | None = None) -> ConsoleState:
        """``admin_token=None`` reads ``CASCADE_ADMIN_TOKEN`` (unset or empty: read-only)."""
        if admin_token is None:
            admin_token = os.environ.get(ADMIN_TOKEN_ENV) or None
        home = getattr(runtime, "home", None)
        path = Path(home) / "console" / "replayed.json" if home is not None else None
        return cls(runtime=runtime, admin_token=admin_token or None, replayed=_load_replayed(path),
                   replayed_file=path)

    async def mark_replayed(self, queue: str, ids: set[str]) -> None:
        """Hide the letters ``ids`` of ``queue`` from now on (and after a restart)."""
        self.replayed.setdefault(queue, set()).update(ids)
        if self.replayed_file is not None:
            await anyio.to_thread.run_sync(_save_replayed, self.replayed_file, self.replayed)

    async def read(self) -> Readings:
        """A fresh reading of the runtime (writers that do not answer keep their last figures)."""
        self.last = await read(self.runtime, self.last)
        return self.last

    # -- actions ------------------------------------------------------------------------------

    @property
    def actions_enabled(self) -> bool:
        return self.admin_token is not None

    def token_matches(self, presented: str) -> bool:
        """Constant-time comparison with the admin token (False when none is configured)."""
        if self.admin_token is None:
            return False
        return hmac.compare_digest(presented.encode(), self.admin_token.encode())

    def open_session(self) -> str:
        session = secrets.token_urlsafe(24)
        self.sessions.add(session)
        return session

    def csrf_token(self, session: str | None) -> str:
        """The token a page of ``session`` sends back in ``X-CSRF-Token`` ("" without a session)."""
        if not session or session not in self.sessions:
            return ""
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()


def _load_replayed(path: Path | None) -> dict[str, set[str]]:
    if path is None:
        return {}
    try:
        data = orjson.loads(path.read_bytes())
        return {str(queue): {str(i) for i in ids} for queue, ids in data.items()}
    except FileNotFoundError:
        return {}
    except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
        log.warning("%s is unreadable (%s); replayed dead letters are offered again", path, exc)
        return {}


def _save_replayed(path: Path, replayed: dict[str, set[str]]) -> None:
    """Replace the file atomically (write, sync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps({queue: sorted(ids) for queue, ids in replayed.items()}))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
