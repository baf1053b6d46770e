-- Verification, environments and the matrix (can-i-deploy).

-- The Pact Broker CLI sends contacts with an environment and reads them back.
ALTER TABLE broker.environments ADD COLUMN contacts jsonb;

-- "Which consumers have a pact with this provider" (pacts for verification, the
-- matrix inferring integrations) and the other way round, as index-only scans.
CREATE INDEX pact_versions_provider_consumer_idx
    ON broker.pact_versions (provider_id, consumer_id);
CREATE INDEX pact_versions_consumer_provider_idx
    ON broker.pact_versions (consumer_id, provider_id);

-- Currently supported releases of an environment, like deployed_versions_current_idx.
CREATE INDEX released_versions_current_idx
    ON broker.released_versions (environment_id, version_id) WHERE support_ended_at IS NULL;

-- Deployments and releases of one version (the version resource, record-deployment).
CREATE INDEX deployed_versions_version_idx ON broker.deployed_versions (version_id);
CREATE INDEX released_versions_version_idx ON broker.released_versions (version_id);

-- Pending/WIP: "has this pact version ever been verified successfully".
CREATE INDEX verifications_success_idx
    ON broker.verifications (pact_version_sha, provider_version_id) WHERE success;

-- What the verifier reported about itself ({"implementation": "Pact-Rust", ...}).
ALTER TABLE broker.verifications ADD COLUMN verified_by jsonb;
