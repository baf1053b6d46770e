-- Fuzz runs and their findings (covenant fuzz).
CREATE SCHEMA IF NOT EXISTS fuzz;

CREATE TABLE fuzz.runs (
    id          uuid PRIMARY KEY,
    service     text NOT NULL,
    spec        text NOT NULL,
    base_url    text,
    seed        bigint,
    options     jsonb NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('clean', 'findings', 'error', 'unreachable')),
    operations  integer NOT NULL DEFAULT 0,
    test_cases  integer NOT NULL DEFAULT 0
);
CREATE INDEX runs_service_idx ON fuzz.runs (service, started_at DESC);

CREATE TABLE fuzz.findings (
    id         text PRIMARY KEY,
    run_id     uuid NOT NULL REFERENCES fuzz.runs (id) ON DELETE CASCADE,
    operation  text NOT NULL,
    check_name text NOT NULL,
    code       text,
    title      text NOT NULL,
    message    text NOT NULL,
    severity   text,
    request    jsonb NOT NULL,
    response   jsonb,
    curl       text NOT NULL
);
CREATE INDEX findings_run_idx ON fuzz.findings (run_id);
