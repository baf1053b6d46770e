-- One claim per check, place and slot: several instances run each scheduled run once.
CREATE TABLE checks.claims (
    check_name   text NOT NULL,
    location     text NOT NULL DEFAULT '',
    slot         timestamptz NOT NULL,
    claimed_by   text NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz NOT NULL,
    completed_at timestamptz,
    run_id       text,
    takeovers    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (check_name, location, slot)
);
CREATE INDEX claims_slot_idx ON checks.claims (slot);

ALTER TABLE checks.runs ADD COLUMN instance text;

