"""Conformance of the Grafana double with Grafana 11 and 12 (see tests/conformance/README.md)."""
