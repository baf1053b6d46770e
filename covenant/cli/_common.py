"""What every command shares: the loaded configuration and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    # Loaded when a command first needs it: pydantic and the model are most of a
    # bare `covenant --help`'s start-up otherwise.
    from covenant.kernel.config import CovenantConfig

__all__ = ["Context", "err", "out", "state"]

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


@dataclass
class Context:
    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _config: CovenantConfig | None = None

    def config(self) -> CovenantConfig:
        """Load once per invocation; errors surface as ConfigError (exit 2)."""
        if self._config is None:
            from covenant.kernel.config import load_config

            self._config = load_config(self.config_path, overrides=self.overrides)
        return self._config


def state(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    if not isinstance(obj, Context):
        obj = Context()
        ctx.find_root().obj = obj
    return obj


def with_throwaway_token(
    config: CovenantConfig, *, replace_tokens: bool = False
) -> tuple[CovenantConfig, str]:
    """A copy of ``config`` whose broker also accepts a new random read-write token
    (only that one with ``replace_tokens``), for a server Covenant runs itself."""
    import secrets

    from pydantic import SecretStr

    token = secrets.token_urlsafe(24)
    kept = () if replace_tokens else config.broker.read_write_tokens
    broker = config.broker.model_copy(update={"read_write_tokens": (*kept, SecretStr(token))})
    return config.model_copy(update={"broker": broker}), token
