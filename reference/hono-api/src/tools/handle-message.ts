// Consumer hook for Covenant's Pact message tests: hands one message to the
// same handler the kafkajs consumer uses (src/processed-consumer.ts), with a
// fresh prom-client registry, and prints one JSON line on stdout:
// {"handled": true} (exit 0) or {"handled": false, "error": "..."} (exit 1).
//
//   node dist/tools/handle-message.js --topic event.processed \
//     --value '{"eventId":"…","status":"stored","processedAt":"…","runId":null}' \
//     --metadata '{"traceparent":"00-…-…-01","content-type":"application/json"}'
//
// The handler's own log lines go to stderr. Exit 2 on a usage error.
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { createLogger } from "../logger.js";
import { createEventsProcessedCounter } from "../metrics.js";
import { EVENT_PROCESSED_TOPIC, handleEventProcessed } from "../processed-consumer.js";

const TOPICS = [EVENT_PROCESSED_TOPIC];

function usage(message: string): never {
  process.stderr.write(
    `handle-message: ${message}\n` +
      `usage: handle-message --topic ${TOPICS.join("|")} --value STRING [--metadata JSON_OBJECT]\n`,
  );
  process.exit(2);
}

/**
 * Pact message metadata as Kafka headers: string values as they are, other
 * scalars stringified, null dropped; Pact's `contentType` stands for
 * `content-type` when the latter is absent.
 */
export function metadataToHeaders(metadata: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, raw] of Object.entries(metadata)) {
    if (raw === null || raw === undefined) continue;
    headers[name.toLowerCase()] = typeof raw === "string" ? raw : JSON.stringify(raw);
  }
  if (headers["content-type"] === undefined && headers["contenttype"] !== undefined) {
    headers["content-type"] = headers["contenttype"];
  }
  return headers;
}

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        topic: { type: "string" },
        value: { type: "string" },
        metadata: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  if (!values.topic) usage("--topic is required");
  if (!TOPICS.includes(values.topic)) usage(`unknown topic ${JSON.stringify(values.topic)}`);
  if (values.value === undefined) usage("--value is required");
  let metadata: unknown = {};
  if (values.metadata !== undefined) {
    try {
      metadata = JSON.parse(values.metadata);
    } catch {
      usage("--metadata is not valid JSON");
    }
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      usage("--metadata must be a JSON object");
    }
  }

  const registry = new Registry();
  const counter = createEventsProcessedCounter(registry);
  const result = handleEventProcessed(values.value, metadataToHeaders(metadata as Record<string, unknown>), {
    counter,
    logger: createLogger(process.stderr),
  });
  if (result.handled) {
    process.stdout.write(JSON.stringify({ handled: true }) + "\n");
    return 0;
  }
  process.stdout.write(JSON.stringify({ handled: false, error: result.error }) + "\n");
  return 1;
}

process.exitCode = main();
