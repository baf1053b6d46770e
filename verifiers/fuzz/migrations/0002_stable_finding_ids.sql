-- A finding's id names the problem (operation, check, normalised problem), not the
-- run, so the same id comes back in every run that finds it: one row per run and id.
ALTER TABLE fuzz.findings DROP CONSTRAINT findings_pkey;
ALTER TABLE fuzz.findings ADD PRIMARY KEY (run_id, id);
DROP INDEX fuzz.findings_run_idx;
CREATE INDEX findings_id_idx ON fuzz.findings (id);
