"""The ``covenant`` command line. It sits on top: nothing below imports it."""

from covenant.cli._main import app, main

__all__ = ["app", "main"]
