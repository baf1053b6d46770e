"""Conformance of the Loki double with Loki 3.x (see tests/conformance/README.md)."""
