"""Pact versus OpenAPI: is every HTTP interaction of a pact allowed by its provider's document?

No provider runs: each interaction's request and response examples are checked
against the OpenAPI document (paths, methods, parameters, bodies, statuses, media
types), and each disagreement is an :class:`Incompatibility` with a stable code
and JSON pointers into both the pact and the document.
"""

from verifiers.compare._check import (
    Pact,
    check_interaction,
    compare_pacts,
    is_message,
    load_pact,
    load_pacts,
)
from verifiers.compare._gate import compare_matrix_pacts, pact_links, provider_contract_links
from verifiers.compare._model import CODES, CompareResult, Incompatibility, ProviderReport
from verifiers.compare._openapi import OpenApiDocument, SpecUnreachable, load_spec

__all__ = [
    "CODES",
    "CompareResult",
    "Incompatibility",
    "OpenApiDocument",
    "Pact",
    "ProviderReport",
    "SpecUnreachable",
    "check_interaction",
    "compare_matrix_pacts",
    "compare_pacts",
    "is_message",
    "load_pact",
    "load_pacts",
    "load_spec",
    "pact_links",
    "provider_contract_links",
]
