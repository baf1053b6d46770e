"""Render the resolved configuration with every secret masked."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import yaml
from pydantic import SecretStr

from covenant.kernel.config._model import CovenantConfig
from covenant.kernel.redact import MASK, redact_url


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if not secret:
            return ""
        return redact_url(secret) if "://" in secret else MASK
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def render_config(config: CovenantConfig) -> str:
    """YAML text of ``config``; passwords in URLs and all secret fields masked."""
    raw = config.model_dump(mode="python")
    masked = _mask(raw)
    masked["stack"]["state_dir"] = str(config.stack.state_dir)
    return yaml.safe_dump(masked, sort_keys=False)
