-- Covenant's contract broker: everything lives in the "broker" schema so it can
-- share a database with other applications without name clashes.
CREATE SCHEMA IF NOT EXISTS broker;

CREATE TABLE broker.pacticipants (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    display_name   text,
    main_branch    text,
    repository_url text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broker.versions (
    id             bigserial PRIMARY KEY,
    pacticipant_id bigint NOT NULL REFERENCES broker.pacticipants (id) ON DELETE CASCADE,
    number         text NOT NULL,
    build_url      text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pacticipant_id, number)
);
CREATE INDEX versions_latest_idx ON broker.versions (pacticipant_id, id DESC);

CREATE TABLE broker.branches (
    id             bigserial PRIMARY KEY,
    pacticipant_id bigint NOT NULL REFERENCES broker.pacticipants (id) ON DELETE CASCADE,
    name           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pacticipant_id, name)
);

CREATE TABLE broker.branch_versions (
    branch_id  bigint NOT NULL REFERENCES broker.branches (id) ON DELETE CASCADE,
    version_id bigint NOT NULL REFERENCES broker.versions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, version_id)
);
CREATE INDEX branch_versions_version_idx ON broker.branch_versions (version_id);
CREATE INDEX branch_versions_latest_idx ON broker.branch_versions (branch_id, version_id DESC);

CREATE TABLE broker.tags (
    version_id bigint NOT NULL REFERENCES broker.versions (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version_id, name)
);
CREATE INDEX tags_name_idx ON broker.tags (name, version_id DESC);

-- A pact version is the content; its id is the SHA-256 of the canonical JSON.
CREATE TABLE broker.pact_versions (
    sha         text PRIMARY KEY,
    consumer_id bigint NOT NULL REFERENCES broker.pacticipants (id) ON DELETE CASCADE,
    provider_id bigint NOT NULL REFERENCES broker.pacticipants (id) ON DELETE CASCADE,
    content     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A publication: this consumer version has this pact with this provider.
CREATE TABLE broker.pact_publications (
    id                  bigserial PRIMARY KEY,
    consumer_version_id bigint NOT NULL REFERENCES broker.versions (id) ON DELETE CASCADE,
    provider_id         bigint NOT NULL REFERENCES broker.pacticipants (id) ON DELETE CASCADE,
    pact_version_sha    text NOT NULL REFERENCES broker.pact_versions (sha),
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer_version_id, provider_id)
);
CREATE INDEX pact_publications_provider_idx
    ON broker.pact_publications (provider_id, consumer_version_id DESC);
CREATE INDEX pact_publications_sha_idx ON broker.pact_publications (pact_version_sha);

CREATE TABLE broker.verifications (
    id                  bigserial PRIMARY KEY,
    pact_version_sha    text NOT NULL REFERENCES broker.pact_versions (sha) ON DELETE CASCADE,
    provider_version_id bigint NOT NULL REFERENCES broker.versions (id) ON DELETE CASCADE,
    success             boolean NOT NULL,
    build_url           text,
    test_results        jsonb,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verifications_pact_idx
    ON broker.verifications (pact_version_sha, provider_version_id, id DESC);
CREATE INDEX verifications_provider_version_idx ON broker.verifications (provider_version_id);

CREATE TABLE broker.environments (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    display_name text,
    production   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broker.deployed_versions (
    id                   uuid PRIMARY KEY,
    version_id           bigint NOT NULL REFERENCES broker.versions (id) ON DELETE CASCADE,
    environment_id       uuid NOT NULL REFERENCES broker.environments (id) ON DELETE CASCADE,
    application_instance text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    undeployed_at        timestamptz
);
CREATE INDEX deployed_versions_current_idx
    ON broker.deployed_versions (environment_id, version_id) WHERE undeployed_at IS NULL;

CREATE TABLE broker.released_versions (
    id               uuid PRIMARY KEY,
    version_id       bigint NOT NULL REFERENCES broker.versions (id) ON DELETE CASCADE,
    environment_id   uuid NOT NULL REFERENCES broker.environments (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    support_ended_at timestamptz,
    UNIQUE (version_id, environment_id)
);

CREATE TABLE broker.webhooks (
    id            uuid PRIMARY KEY,
    description   text,
    consumer_name text,
    provider_name text,
    events        text[] NOT NULL,
    request       jsonb NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broker.webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES broker.webhooks (id) ON DELETE CASCADE,
    event_name      text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    response_status integer,
    logs            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_pending_idx
    ON broker.webhook_deliveries (status, id) WHERE status = 'pending';
