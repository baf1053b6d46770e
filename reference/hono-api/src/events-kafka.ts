// The `event.scraped` Kafka message. buildEventScrapedMessage() is the single
// place that shapes it: the real producer and POST /_pact/messages both use it.
import { Kafka, Partitioners, logLevel, type LogEntry, type Producer } from "kafkajs";
import { logger } from "./logger.js";

export const EVENT_SCRAPED_TOPIC = "event.scraped";
export const MESSAGE_CONTENT_TYPE = "application/json";

export interface EventScrapedValue {
  eventId: string;
  url: string;
  requestedAt: string;
  source: "luma";
}

export interface EventScrapedMessage {
  topic: string;
  key: string;
  value: EventScrapedValue;
  headers: { traceparent: string; "content-type": string };
}

export function buildEventScrapedMessage(args: {
  eventId: string;
  url: string;
  requestedAt: Date;
  traceparent: string;
}): EventScrapedMessage {
  return {
    topic: EVENT_SCRAPED_TOPIC,
    key: args.eventId,
    value: {
      eventId: args.eventId,
      url: args.url,
      requestedAt: args.requestedAt.toISOString(),
      source: "luma",
    },
    headers: { traceparent: args.traceparent, "content-type": MESSAGE_CONTENT_TYPE },
  };
}

/** The Pact message-provider view of a message: contents + metadata. */
export function toPactMessage(message: EventScrapedMessage): {
  contents: EventScrapedValue;
  metadata: Record<string, string>;
} {
  return {
    contents: message.value,
    metadata: {
      key: message.key,
      topic: message.topic,
      contentType: message.headers["content-type"],
      traceparent: message.headers.traceparent,
    },
  };
}

/** kafkajs log lines as our JSON log lines (component "kafka"). */
export function kafkaLogCreator() {
  const levels: Record<number, "error" | "warn" | "info" | "debug"> = {
    [logLevel.NOTHING]: "debug",
    // kafkajs reports every retry as an error; the outcome is logged by publish()
    [logLevel.ERROR]: "warn",
    [logLevel.WARN]: "warn",
    [logLevel.INFO]: "info",
    [logLevel.DEBUG]: "debug",
  };
  return ({ level, log }: LogEntry) => {
    const { message, timestamp: _ts, logger: _l, stack: _s, ...extra } = log as LogEntry["log"] & {
      logger?: string;
      stack?: string;
    };
    logger[levels[level] ?? "info"](`kafkajs: ${message}`, { component: "kafka", ...extra });
  };
}

/** Best-effort producer of `event.scraped`; every failure is logged, never thrown. */
export class EventPublisher {
  private readonly kafka: Kafka;
  private producer: Producer | null = null;
  private connecting: Promise<Producer> | null = null;
  private topicReady = false;
  private closed = false;

  constructor(
    readonly brokers: string[],
    private readonly sendTimeoutMs = 3000,
  ) {
    this.kafka = new Kafka({
      clientId: "covenant-hono-api",
      brokers,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator,
    });
  }

  /** Creates the topic if needed (Tansu does not auto-create) and connects the producer. */
  async start(): Promise<void> {
    try {
      await this.ensureTopic();
      await this.getProducer();
      logger.info("kafka producer connected", { brokers: this.brokers.join(","), topic: EVENT_SCRAPED_TOPIC });
    } catch (err) {
      logger.warn("kafka not available at start; will retry on first message", { error: errMessage(err) });
    }
  }

  private async ensureTopic(): Promise<void> {
    if (this.topicReady) return;
    await ensureTopic(this.kafka, EVENT_SCRAPED_TOPIC);
    this.topicReady = true;
  }

  private getProducer(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    if (!this.connecting) {
      const producer = this.kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: true,
      });
      this.connecting = producer
        .connect()
        .then(() => {
          this.producer = producer;
          producer.on(producer.events.DISCONNECT, () => {
            if (this.producer === producer) this.producer = null;
          });
          return producer;
        })
        .finally(() => {
          this.connecting = null;
        });
    }
    return this.connecting;
  }

  /** Sends the message; resolves true on success, false (logged) on any failure. */
  async publish(message: EventScrapedMessage, traceId: string): Promise<boolean> {
    if (this.closed) return false;
    const send = async () => {
      if (!this.topicReady) await this.ensureTopic();
      const producer = await this.getProducer();
      await producer.send({
        topic: message.topic,
        acks: -1,
        messages: [
          {
            key: message.key,
            value: JSON.stringify(message.value),
            headers: { ...message.headers },
          },
        ],
      });
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        send(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${this.sendTimeoutMs} ms`)), this.sendTimeoutMs);
        }),
      ]);
      logger.info("event.scraped produced", { trace_id: traceId, topic: message.topic, key: message.key });
      return true;
    } catch (err) {
      logger.error("event.scraped not produced", { trace_id: traceId, topic: message.topic, key: message.key, error: errMessage(err) });
      return false;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connecting;
    if (pending) await pending.catch(() => undefined);
    if (this.producer) {
      const p = this.producer;
      this.producer = null;
      await p.disconnect().catch(() => undefined);
    }
  }
}

/** Creates `topic` (1 partition, replication 1) with the admin client when it is missing. */
export async function ensureTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) {
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
      logger.info("kafka topic created", { topic });
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function parseBrokers(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((s) => s.trim().replace(/^[a-z]+:\/\//i, ""))
    .filter((s) => s.length > 0);
}
