// One JSON object per line on stdout: ts, level, service, msg, trace_id, plus fields.
import { newTraceId } from "./trace.js";

export const SERVICE_NAME = "hono-api";

export type Level = "debug" | "info" | "warn" | "error";

const SECRET_KEY_RE = /pass(word)?|secret|token|authorization|cookie|api[_-]?key/i;

/** Removes credentials from URLs (user:password@host) and query secrets. */
export function redact(value: string): string {
  return value
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)([^\s/@]+)@/gi, "$1***@")
    .replace(/([?&](?:password|pass|token|secret|api[_-]?key)=)[^&\s]*/gi, "$1***");
}

function clean(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (SECRET_KEY_RE.test(k)) {
      out[k] = "***";
    } else if (typeof v === "string") {
      out[k] = redact(v);
    } else if (v instanceof Error) {
      out[k] = redact(v.message);
    } else {
      out[k] = v;
    }
  }
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function log(
  level: Level,
  msg: string,
  fields: Record<string, unknown> = {},
  out: NodeJS.WritableStream = process.stdout,
): void {
  const { trace_id, ...rest } = fields;
  const line = {
    ts: new Date().toISOString(),
    level,
    service: SERVICE_NAME,
    msg: redact(msg),
    // outside a request (start-up, shutdown, background work) a fresh trace id
    trace_id: typeof trace_id === "string" ? trace_id : newTraceId(),
    ...clean(rest),
  };
  let text: string;
  try {
    text = JSON.stringify(line);
  } catch {
    text = JSON.stringify({ ts: line.ts, level, service: SERVICE_NAME, msg: line.msg, trace_id: line.trace_id });
  }
  out.write(text + "\n");
}

/** A logger writing JSON lines to `out` (stdout for the server; stderr for the hooks). */
export function createLogger(out: NodeJS.WritableStream = process.stdout): Logger {
  return {
    debug: (msg, fields) => log("debug", msg, fields, out),
    info: (msg, fields) => log("info", msg, fields, out),
    warn: (msg, fields) => log("warn", msg, fields, out),
    error: (msg, fields) => log("error", msg, fields, out),
  };
}

export const logger: Logger = createLogger(process.stdout);
