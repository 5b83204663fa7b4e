"""What the console keeps between requests: rates, the last reading, replayed dead letters, sessions."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from ._rates import Rates
from ._readings import Readings, read

__all__ = ("ADMIN_TOKEN_ENV", "ConsoleState")

ADMIN_TOKEN_ENV = "CASCADE_ADMIN_TOKEN"


@dataclass
class ConsoleState:
    """The console of one HTTP app over one runtime.

    Attributes:
        runtime: The running ``Runtime``.
        admin_token: Token that unlocks actions (``None``: the console is read-only).
        rates: Counter history for rates and trends.
        replayed: Per dead-letter queue, the ids of letters replayed (hidden from the groups).
        sessions: Ids of browser sessions signed in with the admin token.
    """

    runtime: Any
    admin_token: str | None = None
    rates: Rates = field(default_factory=Rates)
    replayed: dict[str, set[str]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    last: Readings | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @classmethod
    def create(cls, runtime: Any, admin_token: str | None = None) -> ConsoleState:
        """``admin_token=None`` reads ``CASCADE_ADMIN_TOKEN`` (unset or empty: read-only)."""
        if admin_token is None:
            admin_token = os.environ.get(ADMIN_TOKEN_ENV) or None
        return cls(runtime=runtime, admin_token=admin_token or None)

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
