"""Covenant: keeps a system of services honest from the contract to the alert.

The public surface of the shell is small on purpose: the configuration loader
and the error tree. Everything else is reached through the ``covenant`` CLI or
the HTTP API.
"""

from covenant.errors import CovenantError, ErrorKind

__all__ = ["CovenantError", "ErrorKind", "__version__"]

__version__ = "0.1.0"
