"""Covenant: keeps a system of services honest from the contract to the alert.

This package holds the bottom and the top floor: :mod:`covenant.kernel` (what
every capability stands on) and the shell (:mod:`covenant.cli`,
:mod:`covenant.app`, :mod:`covenant.stack`). It imports nothing itself, so
importing the kernel never pulls in the shell. See the README's Architecture.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
