"""Pact contracts and the built-in broker (store, HAL API, matrix, can-i-deploy).

Filled in by the contracts and broker issues; may import covenant's core
(config, errors), never the CLI or the HTTP app.
"""
