// The `event.processed` Kafka message (produced by the event-worker once it has
// stored a scraped event). handleEventProcessed() is the single place that reads
// it: the kafkajs consumer and the Pact consumer hook (tools/handle-message.ts)
// both call it, so the message pact is written by the code that runs in production.
import { Kafka, logLevel, type Consumer, type IHeaders } from "kafkajs";
import { z } from "zod";
import { ensureTopic, errMessage, kafkaLogCreator } from "./events-kafka.js";
import type { Logger } from "./logger.js";
import { UUID_RE } from "./schemas.js";
import { parseTraceparent } from "./trace.js";

export const EVENT_PROCESSED_TOPIC = "event.processed";
export const CONSUMER_GROUP_ID = "hono-api";

/** The message value, validated strictly: no missing, extra or mistyped field. */
export const EventProcessedSchema = z.strictObject({
  eventId: z.string().regex(UUID_RE, "eventId must be a UUID"),
  status: z.literal("stored"),
  processedAt: z.iso.datetime({ offset: true, message: "processedAt must be an RFC 3339 date-time with a time zone" }),
  // Optional: only synthetic (Covenant) traffic carries a run id.
  runId: z.string().min(1).nullable().optional(),
});

export type EventProcessed = z.infer<typeof EventProcessedSchema>;

/** What the handler needs: the counter to increment and where to log. */
export interface HandlerDeps {
  counter: { inc(labels: { status: string }, value?: number): void };
  logger: Pick<Logger, "info" | "warn">;
}

export type HandleResult =
  | { handled: true; event: EventProcessed; traceId: string | null }
  | { handled: false; error: string };

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "(value)"}: ${issue.message}`)
    .join("; ");
}

function decodeValue(value: Buffer | string | null): string {
  if (value === null || value === undefined) throw new Error("empty message (no value)");
  if (typeof value === "string") return value;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(value);
  } catch {
    throw new Error("value is not UTF-8");
  }
}

/**
 * Validates one `event.processed` message and records it. Never throws.
 *
 * Headers are matched case-insensitively. `traceparent` is optional (the
 * producer omits it when the scrape had none) but must be a valid W3C
 * traceparent when present; `content-type`, when present, must be
 * application/json. Other headers are ignored.
 *
 * Valid: `hono_events_processed_total{status=<status>}` + 1 and an info line
 * `event processed` (event_id, run_id, trace_id from the traceparent).
 * Invalid: `hono_events_processed_total{status="invalid"}` + 1, a warning, and
 * `{handled: false, error}`; the message is skipped (no retry, no dead letter).
 */
export function handleEventProcessed(
  value: Buffer | string | null,
  headers: Record<string, string>,
  deps: HandlerDeps,
): HandleResult {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) lower[k.toLowerCase()] = v;

  const reject = (error: string, traceId?: string): HandleResult => {
    try {
      deps.counter.inc({ status: "invalid" });
      deps.logger.warn("event.processed rejected", { error, trace_id: traceId, topic: EVENT_PROCESSED_TOPIC });
    } catch {
      // metrics or logging failing must not take the consumer down
    }
    return { handled: false, error };
  };

  try {
    let traceId: string | null = null;
    const traceparent = lower["traceparent"];
    if (traceparent !== undefined) {
      const trace = parseTraceparent(traceparent);
      if (!trace) return reject(`traceparent header is not a valid W3C traceparent: ${JSON.stringify(traceparent)}`);
      traceId = trace.traceId;
    }
    const contentType = lower["content-type"];
    if (contentType !== undefined && contentType.split(";")[0].trim().toLowerCase() !== "application/json") {
      return reject(`content-type must be application/json, got ${JSON.stringify(contentType)}`, traceId ?? undefined);
    }

    let text: string;
    try {
      text = decodeValue(value);
    } catch (err) {
      return reject(errMessage(err), traceId ?? undefined);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch (err) {
      return reject(`value is not JSON: ${errMessage(err)}`, traceId ?? undefined);
    }
    const parsed = EventProcessedSchema.safeParse(payload);
    if (!parsed.success) return reject(describeIssues(parsed.error), traceId ?? undefined);

    const event = parsed.data;
    deps.counter.inc({ status: event.status });
    deps.logger.info("event processed", {
      event_id: event.eventId,
      run_id: event.runId ?? null,
      // no traceparent: the logger puts a fresh trace id
      trace_id: traceId ?? undefined,
      processed_at: event.processedAt,
    });
    return { handled: true, event, traceId };
  } catch (err) {
    return reject(`handler error: ${errMessage(err)}`);
  }
}

/** kafkajs headers (Buffer | string | array) as a plain string record. */
export function headersToRecord(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const first = Array.isArray(raw) ? raw[0] : raw;
    if (first === undefined || first === null) continue;
    out[name.toLowerCase()] = typeof first === "string" ? first : first.toString("utf8");
  }
  return out;
}

export interface ConsumerOptions {
  groupId?: string;
  topic?: string;
  /** first delay after a failed start; doubled up to maxBackoffMs */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * kafkajs consumer of `event.processed` (group `hono-api`, new groups start at
 * the latest offset). start() never throws: while Kafka is unreachable it logs
 * and retries in the background with exponential backoff (1 s .. 30 s), also
 * after a crash of a running consumer. close() stops retrying and disconnects.
 */
export class EventProcessedConsumer {
  private readonly kafka: Kafka;
  private readonly groupId: string;
  private readonly topic: string;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private consumer: Consumer | null = null;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly brokers: string[],
    private readonly deps: HandlerDeps & { logger: Logger },
    options: ConsumerOptions = {},
  ) {
    this.groupId = options.groupId ?? CONSUMER_GROUP_ID;
    this.topic = options.topic ?? EVENT_PROCESSED_TOPIC;
    this.minBackoffMs = options.minBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30000;
    this.kafka = new Kafka({
      clientId: "covenant-hono-api-consumer",
      brokers,
      connectionTimeout: 1000,
      requestTimeout: 5000,
      // kafkajs' own restarts are disabled (restartOnFailure): the loop below retries with backoff
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000, restartOnFailure: async () => false },
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator,
    });
  }

  /** Starts the background connect loop (idempotent); returns at once. */
  start(): void {
    if (this.closed || this.loop) return;
    this.loop = this.connectLoop().finally(() => {
      this.loop = null;
    });
  }

  private async connectLoop(): Promise<void> {
    let delay = this.minBackoffMs;
    while (!this.closed) {
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        if (this.closed) return;
        this.deps.logger.warn("kafka consumer not started; retrying", {
          component: "kafka",
          topic: this.topic,
          group_id: this.groupId,
          error: errMessage(err),
          retry_in_ms: delay,
        });
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxBackoffMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    }).then(() => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.wake = null;
    });
  }

  private async connectOnce(): Promise<void> {
    await ensureTopic(this.kafka, this.topic);
    if (this.closed) return;
    const consumer = this.kafka.consumer({ groupId: this.groupId, allowAutoTopicCreation: false });
    this.consumer = consumer;
    let joined = false;
    let startError: Error | null = null;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      joined = true;
      this.deps.logger.info("kafka consumer joined group", {
        component: "kafka",
        topic: this.topic,
        group_id: this.groupId,
        member_id: e.payload.memberId,
      });
    });
    consumer.on(consumer.events.CRASH, (e) => {
      // kafkajs has disconnected this consumer and does not restart it (restartOnFailure);
      // a crash before the join is a failed start, retried by connectLoop()
      if (!joined) {
        startError = e.payload.error;
        return;
      }
      if (this.consumer !== consumer || this.closed) return;
      this.consumer = null;
      this.deps.logger.warn("kafka consumer crashed; restarting", {
        component: "kafka",
        topic: this.topic,
        error: errMessage(e.payload.error),
      });
      this.start();
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: false });
      // run() resolves after the group join, or after a crash while joining
      await consumer.run({
        eachMessage: async ({ message }) => {
          try {
            handleEventProcessed(message.value, headersToRecord(message.headers), this.deps);
          } catch (err) {
            // handleEventProcessed never throws; this is a last resort
            this.deps.logger.error("event.processed handler failed", { error: errMessage(err) });
          }
        },
      });
      if (!joined) throw startError ?? new Error("the consumer did not join its group");
    } catch (err) {
      if (this.consumer === consumer) this.consumer = null;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    this.deps.logger.info("kafka consumer running", {
      component: "kafka",
      brokers: this.brokers.join(","),
      topic: this.topic,
      group_id: this.groupId,
    });
  }

  /** Stops retrying and disconnects (leaves the group). */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer) await consumer.disconnect().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }
}
