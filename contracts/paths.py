"""Where the committed contracts and specs live."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PACTS_DIR"]

#: Pact files written by the consumer tests in contracts/consumers/ (committed).
PACTS_DIR = Path(__file__).resolve().parent / "pacts"
