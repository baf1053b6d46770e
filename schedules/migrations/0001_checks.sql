-- Runs of synthetic checks and what each expectation saw.
CREATE TABLE checks.runs (
    run_id        text PRIMARY KEY,
    check_name    text NOT NULL,
    location      text,
    trace_id      text NOT NULL,
    scheduled_for timestamptz,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    result        text NOT NULL CHECK (result IN ('pass', 'fail', 'error')),
    error         text,
    written_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_check_started_idx ON checks.runs (check_name, started_at DESC);

CREATE TABLE checks.expectation_results (
    run_id    text NOT NULL REFERENCES checks.runs (run_id) ON DELETE CASCADE,
    name      text NOT NULL,
    kind      text NOT NULL,
    outcome   text NOT NULL CHECK (outcome IN ('seen', 'not_seen', 'error')),
    latency_s double precision,
    detail    text NOT NULL DEFAULT '',
    polls     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, name)
);
