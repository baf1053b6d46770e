"""Check definitions (YAML to typed objects), the runner and run history.

May import covenant's core, verifiers and observability; never the CLI or the HTTP app.
"""
