"""The HTTP application served by ``covenant serve``."""

from covenant.app._background import BackgroundServer
from covenant.app._factory import create_app

__all__ = ["BackgroundServer", "create_app"]
