"""The credentials a Grafana data source sends upstream.

As ``pkg/services/datasources/service/datasource.go`` (``httpClientOptions``,
``getCustomHeaders``) builds them: ``basicAuth: true`` sends ``basicAuthUser`` and
``secureJsonData.basicAuthPassword`` as HTTP basic auth, and every
``jsonData.httpHeaderName<N>`` (N = 1, 2, ... until one is missing) is sent with the value
``secureJsonData.httpHeaderValue<N>``. Deliberately stricter than Grafana in one way: a
credential whose provisioned value expanded to nothing (an unset ``$VAR``, see
``pkg/services/provisioning/values``) is not sent at all, instead of an empty
``Authorization`` header. Secret values live only in the ``_secure`` entry of a data source
and never in an API answer (Grafana returns ``secureJsonFields`` flags only).
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["SECURE_KEY", "public_view", "upstream_headers"]

SECURE_KEY = "_secure"


def upstream_headers(datasource: dict[str, Any]) -> dict[str, str]:
    """Headers for every request the data source makes (health, queries, rule eval)."""
    secure: dict[str, str] = datasource.get(SECURE_KEY) or {}
    json_data: dict[str, Any] = datasource.get("jsonData") or {}
    headers: dict[str, str] = {}
    user = str(datasource.get("basicAuthUser") or "")
    password = str(secure.get("basicAuthPassword") or "")
    if datasource.get("basicAuth") and (user or password):
        raw = f"{user}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    index = 1
    while f"httpHeaderName{index}" in json_data:  # datasource.go getCustomHeaders
        name = str(json_data[f"httpHeaderName{index}"]).strip()
        value = str(secure.get(f"httpHeaderValue{index}") or "").strip()
        if name and value and value.lower() not in ("bearer", "basic"):
            headers[name] = value
        index += 1
    return headers


def public_view(datasource: dict[str, Any], omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """The data source without its secrets (and without ``omit``)."""
    return {k: v for k, v in datasource.items() if k != SECURE_KEY and k not in omit}
