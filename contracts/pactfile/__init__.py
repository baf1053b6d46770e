"""The one pact reader: every command and endpoint that takes a pact reads it here.

A pact is read from a regular file only (a FIFO or device is refused, never
waited on), bounded in size and nesting (:class:`ReadLimits`), parsed as strict
JSON (no NaN, no duplicate keys), checked against the JSON Schema of its Pact
Specification version (V2, V3 or V4; :func:`schema_for`) and then against the
rules a schema cannot say (a JSON body that is a string, base64 that is not,
two interactions a verifier cannot tell apart). Every problem carries a JSON
pointer and, for text, the file, line and column: :class:`MalformedPact`.

Used by ``covenant verify``, ``covenant contracts publish|compare``, the
broker's publish endpoints and the can-i-deploy comparison gate.
"""

from contracts.pactfile._jsontext import JsonTextError, depth_of, parse_strict
from contracts.pactfile._limits import DEFAULT_LIMITS, ReadLimits, limits_for
from contracts.pactfile._problems import MalformedPact, PactProblem
from contracts.pactfile._read import PactFile, parse_pact, read_pact_file, read_pact_files
from contracts.pactfile._schemas import HTTP_METHODS, SpecVersion, schema_for
from contracts.pactfile._validate import check_pact, spec_version

__all__ = [
    "DEFAULT_LIMITS",
    "HTTP_METHODS",
    "JsonTextError",
    "MalformedPact",
    "PactFile",
    "PactProblem",
    "ReadLimits",
    "SpecVersion",
    "check_pact",
    "depth_of",
    "limits_for",
    "parse_pact",
    "parse_strict",
    "read_pact_file",
    "read_pact_files",
    "schema_for",
    "spec_version",
]
