"""What every command shares: the loaded configuration and the consoles."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from covenant.config import CovenantConfig, load_config

__all__ = ["Context", "err", "out", "state"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@dataclass
class Context:
    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _config: CovenantConfig | None = None

    def config(self) -> CovenantConfig:
        """Load once per invocation; errors surface as ConfigError (exit 2)."""
        if self._config is None:
            self._config = load_config(self.config_path, overrides=self.overrides)
        return self._config


def state(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    if not isinstance(obj, Context):
        obj = Context()
        ctx.find_root().obj = obj
    return obj
