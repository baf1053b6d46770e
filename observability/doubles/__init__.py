"""In-process doubles of the Loki and Grafana HTTP APIs.

Covenant's synthetic checks push logs to Loki and read dashboards, data sources, queries
and alert state from Grafana. Neither server can be installed everywhere Covenant runs,
so these FastAPI applications implement the documented endpoints the checks use, with
the response shapes of the real servers field for field. Each endpoint's docstring cites
the documentation section it follows, and each simplification is written down where it
is made. Queries that need real data are forwarded to the real Prometheus (and to Loki,
or to the Loki double) rather than invented.

Run them as processes with ``python -m observability.doubles loki|grafana ...``.
"""

from __future__ import annotations

__all__: list[str] = []
