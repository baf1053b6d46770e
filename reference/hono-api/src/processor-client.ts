// The client of the Elixir processor. The server and tools/call-processor.ts
// (Covenant's Pact consumer hook) both use this module, so the pact is written
// by the same code that makes the real calls.
import { outgoingTraceparent } from "./trace.js";

export interface ProcessRequest {
  event_id: string;
  url?: string;
  html?: string;
}

export interface ProcessorAnswer {
  status: number;
  /** parsed JSON body, or null when the body is empty or not JSON */
  body: unknown;
}

/** The processor did not answer (connection refused, timeout, DNS, or forced down). */
export class ProcessorUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ProcessorUnreachableError";
  }
}

export interface ProcessorClientOptions {
  baseUrl: string;
  timeoutMs?: number;
}

export interface CallOptions {
  /** trace id of the current request; the outgoing traceparent continues it */
  traceId?: string;
  timeoutMs?: number;
}

export class ProcessorClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  /** Set by the provider state "the processor is down": every call fails as unreachable. */
  forcedDown = false;

  constructor(options: ProcessorClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** `POST /api/process {"event_id", "url"}` — 202 `{"job_id", "status"}` expected. */
  process(request: ProcessRequest, options: CallOptions = {}): Promise<ProcessorAnswer> {
    return this.call("POST", "/api/process", request, options);
  }

  /** `GET /api/jobs/{id}` — 200 `{"job_id", "event_id", "status", "error"}` or 404. */
  job(id: string, options: CallOptions = {}): Promise<ProcessorAnswer> {
    return this.call("GET", `/api/jobs/${encodeURIComponent(id)}`, undefined, options);
  }

  /** `GET /health`. */
  health(options: CallOptions = {}): Promise<ProcessorAnswer> {
    return this.call("GET", "/health", undefined, options);
  }

  private async call(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    options: CallOptions,
  ): Promise<ProcessorAnswer> {
    if (this.forcedDown) {
      throw new ProcessorUnreachableError("processor is down (provider state)");
    }
    const headers: Record<string, string> = {
      accept: "application/json",
      traceparent: outgoingTraceparent(options.traceId),
    };
    let payload: string | undefined;
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      const reason = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
      throw new ProcessorUnreachableError(`processor unreachable: ${reason}`, { cause: err });
    }
    let parsed: unknown = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    return { status: response.status, body: parsed };
  }
}
