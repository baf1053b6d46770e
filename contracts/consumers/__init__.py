"""Consumer contract tests: each drives a consumer's real client code against a
Pact mock provider and writes the resulting pact to contracts/pacts/."""
