"""The event worker: consumes pipeline messages from Kafka (reference system)."""
