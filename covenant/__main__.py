"""Allow ``python -m covenant``."""

from covenant.cli import main

main()
