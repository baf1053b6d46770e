// Prometheus metrics (prom-client).
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** `hono_events_processed_total{status}`: event.processed messages handled, by status ("stored", "invalid"). */
export function createEventsProcessedCounter(registry: Registry) {
  const counter = new Counter({
    name: "hono_events_processed_total",
    help: "event.processed messages consumed, by status (the message's status, or 'invalid' when rejected)",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  // both series exist (at 0) before the first message
  counter.inc({ status: "stored" }, 0);
  counter.inc({ status: "invalid" }, 0);
  return counter;
}

export type EventsProcessedCounter = ReturnType<typeof createEventsProcessedCounter>;

export function createMetrics() {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "hono-api" });
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests answered, by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration in seconds, by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const processorCalls = new Counter({
    name: "processor_requests_total",
    help: "Calls to the processor, by operation and outcome (HTTP status or 'unreachable')",
    labelNames: ["operation", "outcome"] as const,
    registers: [registry],
  });
  const kafkaMessages = new Counter({
    name: "kafka_messages_produced_total",
    help: "event.scraped messages, by result (ok or error)",
    labelNames: ["topic", "result"] as const,
    registers: [registry],
  });
  const eventsProcessed = createEventsProcessedCounter(registry);
  return { registry, httpRequests, httpDuration, processorCalls, kafkaMessages, eventsProcessed };
}

export type Metrics = ReturnType<typeof createMetrics>;
