-- Part C: what the webhook delivery worker needs beyond 0001.
--   trigger_type: 'event' (fired by a publish or a verification) or 'execute'
--                 (POST /webhooks/{uuid}/execute).
--   lease_until:  a worker owns a pending delivery until then; a broker that
--                 starts later retries pending deliveries whose lease ran out,
--                 so several brokers on one database never deliver twice at once.
--   request_description: "POST https://host/path" as configured, for listings.
ALTER TABLE broker.webhook_deliveries
    ADD COLUMN trigger_type text NOT NULL DEFAULT 'event'
        CHECK (trigger_type IN ('event', 'execute')),
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN request_description text;

CREATE INDEX webhook_deliveries_webhook_idx
    ON broker.webhook_deliveries (webhook_id, id DESC);
CREATE INDEX webhooks_enabled_idx ON broker.webhooks USING gin (events) WHERE enabled;
