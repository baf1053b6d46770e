"""PostgreSQL access shared by every component: URLs of sibling databases and
creating one next to a server's URL (the stack, the self-fuzz, tests, benches)."""

from __future__ import annotations

import re

__all__ = ["create_database", "database_url", "sibling_url"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def sibling_url(url: str, database: str) -> str:
    """``url`` with its database replaced by ``database`` (same server, same user)."""
    return url.rsplit("/", 1)[0] + f"/{database}"


def database_url(url: str) -> str:
    """The maintenance database (``postgres``) of the server ``url`` points at."""
    return sibling_url(url, "postgres")


def create_database(
    server_url: str, name: str, *, replace: bool = False, connect_timeout_s: float = 5
) -> str:
    """Create database ``name`` on the server of ``server_url`` unless it exists (or,
    with ``replace``, drop it first, ending its sessions); return its URL.

    ``name`` must be a plain identifier: it is put into the statement as one."""
    import psycopg  # here: the kernel's other modules must not need the driver

    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    with psycopg.connect(
        database_url(server_url), autocommit=True, connect_timeout=max(1, round(connect_timeout_s))
    ) as conn:
        if replace:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return sibling_url(server_url, name)
