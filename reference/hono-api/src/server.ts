// Entry point: node reference/hono-api/dist/server.js
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import { createApp, parseFault } from "./app.js";
import { applySchema, createPool } from "./db.js";
import { EventPublisher, errMessage, parseBrokers } from "./events-kafka.js";
import { logger, redact } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { EventProcessedConsumer } from "./processed-consumer.js";
import { ProcessorClient } from "./processor-client.js";

/** reference/hono-api (dist/.. when compiled) */
const SERVICE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SCHEMA_PATH = resolve(SERVICE_DIR, "..", "schema.sql");

function fail(msg: string, fields: Record<string, unknown> = {}): never {
  logger.error(msg, fields);
  process.exit(2);
}

function packageVersion(): string {
  try {
    return JSON.parse(readFileSync(resolve(SERVICE_DIR, "package.json"), "utf8")).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

async function main(): Promise<void> {
  const host = process.env.HOST || "127.0.0.1";
  const portText = process.env.PORT || "3000";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 0 || port > 65535) fail("PORT must be an integer 0..65535", { port: portText });
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) fail("DATABASE_URL is required");
  const processorUrl = process.env.PROCESSOR_URL;
  if (!processorUrl) fail("PROCESSOR_URL is required");
  try {
    new URL(processorUrl);
  } catch {
    fail("PROCESSOR_URL is not a URL", { processor_url: processorUrl });
  }
  let fault;
  try {
    fault = parseFault(process.env.COVENANT_FAULT);
  } catch (err) {
    fail(errMessage(err));
  }
  const pactStates = process.env.PACT_PROVIDER_STATES === "true";
  const brokers = parseBrokers(process.env.KAFKA_BROKERS);

  const pool = createPool(databaseUrl);
  try {
    await applySchema(pool, SCHEMA_PATH);
  } catch (err) {
    logger.error("cannot apply the database schema", { error: errMessage(err), schema: SCHEMA_PATH });
    await pool.end().catch(() => undefined);
    process.exit(1);
  }

  const processor = new ProcessorClient({ baseUrl: processorUrl });
  const publisher = brokers.length > 0 ? new EventPublisher(brokers) : null;
  if (publisher) void publisher.start();
  const metrics = createMetrics();
  // event.processed consumer: connects (and retries) in the background, never blocks the HTTP server
  const consumer = brokers.length > 0 ? new EventProcessedConsumer(brokers, { counter: metrics.eventsProcessed, logger }) : null;
  consumer?.start();
  const app = createApp({ pool, processor, publisher, metrics, fault, pactStates, version: packageVersion() });

  const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
    logger.info("listening", {
      host: info.address,
      port: info.port,
      processor_url: redact(processorUrl),
      kafka_brokers: brokers.join(",") || null,
      fault,
      pact_provider_states: pactStates,
    });
  }) as Server;
  server.on("error", (err) => {
    logger.error("server error", { error: err.message });
    process.exit(1);
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    const force = setTimeout(() => {
      logger.warn("shutdown timed out; exiting");
      process.exit(0);
    }, 10000);
    force.unref();
    await new Promise<void>((done) => {
      server.close(() => done());
      server.closeIdleConnections?.();
    });
    await Promise.allSettled([pool.end(), publisher?.close(), consumer?.close()]);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((err) => {
  logger.error("fatal", { error: errMessage(err), stack: err instanceof Error ? err.stack : undefined });
  process.exit(1);
});
