"""One TLS context for the HTTP clients Covenant creates per request.

``httpx.AsyncClient()`` builds a new SSL context each time, loading the whole CA
bundle: about 35 ms of CPU, on the event loop. Webhook deliveries and health
probes make a client per request, so a publish that fires a hundred webhooks
spent seconds there and every other request waited. The context is built once
(as httpx builds it: ``SSL_CERT_FILE``/``SSL_CERT_DIR``, else certifi) and
shared; SSL contexts are safe to share between connections.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

__all__ = ["default_ssl_context"]


@cache
def default_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
