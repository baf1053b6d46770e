"""Everything that checks something: provider verification, fuzzing, pact-vs-OpenAPI
comparison, signal probes and synthetic traffic.

May import covenant's core (config, errors) and contracts; never the CLI or the HTTP app.
"""
