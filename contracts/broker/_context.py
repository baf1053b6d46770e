"""What every broker endpoint shares: configuration, the database and the listeners
told about committed writes. No web framework: the HTTP resources hand it around."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.broker._db import BrokerDatabase
from contracts.broker._errors import BrokerError
from covenant.kernel.config import BrokerConfig

__all__ = ["BrokerContext"]


@dataclass
class BrokerContext:
    """Shared by every endpoint; built once by ``install_broker``."""

    config: BrokerConfig
    database: BrokerDatabase
    #: Called with (event_name, payload) after a write commits; webhooks listen here.
    listeners: list[Any] = field(default_factory=list)
    #: Called with the request and its parsed body; checks the body against the
    #: schema documented for the request's operation, raising BrokerError (400).
    #: ``install_broker`` sets the real one.
    check_body: Callable[[Any, Any], None] = field(default=lambda request, body: None)
    _ready: bool = False
    _ready_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ensure_ready(self) -> None:
        """Open the pool and migrate on first use, so the service starts even when
        PostgreSQL is down and the broker recovers when it comes back."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            try:
                await self.database.open()
            except Exception as exc:
                raise BrokerError(
                    503, "Service Unavailable", f"the broker database is unavailable: {exc}"
                ) from None
            self._ready = True

    async def emit(self, event: str, payload: dict[str, Any]) -> None:
        for listener in self.listeners:
            await listener(event, payload)
