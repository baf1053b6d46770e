"""Covenant's own telemetry, and the configuration of the observability stack.

The data files beside this module (prometheus/, alertmanager/, grafana/,
compose/) are used both by the local stack manager and by docker-compose.yml.
"""
