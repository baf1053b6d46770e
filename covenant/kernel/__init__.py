"""The kernel: configuration, errors, redaction, positions in YAML, migrations,
PostgreSQL access, the one endpoint resolver, auth and problem documents.

Every other floor stands on it; it imports nothing of Covenant outside itself
(``tests/unit/test_architecture.py`` holds it to that).
"""
