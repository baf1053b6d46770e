"""Covenant's JSON Schemas of pact files are valid Draft 2020-12 schemas (checked here
once, not at every start of a command that reads pacts)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from contracts.pactfile._schemas import schema_for


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_each_pact_schema_is_a_valid_schema(version: str) -> None:
    Draft202012Validator.check_schema(schema_for(version))
