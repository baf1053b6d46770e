-- Provider contracts (PactFlow's bi-directional contract testing): the OpenAPI
-- document a provider version publishes, with the results of its own
-- verification against it. At most one per provider version; publishing again
-- for the same version replaces it.
CREATE TABLE broker.provider_contracts (
    id                     bigserial PRIMARY KEY,
    provider_version_id    bigint NOT NULL UNIQUE
                               REFERENCES broker.versions (id) ON DELETE CASCADE,
    -- "oas"
    specification          text NOT NULL,
    -- the media type it was published as (application/yaml, application/json, ...)
    content_type           text NOT NULL,
    -- the document as published (UTF-8 text), and the SHA-256 of it
    content                text NOT NULL,
    content_sha            text NOT NULL,
    -- selfVerificationResults; verification_success is NULL when none were published
    verification_success   boolean,
    verification_content   text,
    verification_content_type text,
    verification_format    text,
    verifier               text,
    verifier_version       text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
