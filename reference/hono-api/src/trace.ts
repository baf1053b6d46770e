// W3C Trace Context helpers (https://www.w3.org/TR/trace-context/).
import { randomBytes } from "node:crypto";

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  traceId: string;
  /** span id of the caller (parent), when the trace came in with a traceparent */
  parentId: string | null;
  flags: string;
}

function isAllZero(hex: string): boolean {
  return /^0+$/.test(hex);
}

export function newTraceId(): string {
  return randomBytes(16).toString("hex");
}

export function newSpanId(): string {
  return randomBytes(8).toString("hex");
}

/** Parses an incoming `traceparent` header; null when absent or invalid. */
export function parseTraceparent(header: string | null | undefined): TraceContext | null {
  if (!header) return null;
  const m = TRACEPARENT_RE.exec(header.trim().toLowerCase());
  if (!m) return null;
  const [, version, traceId, parentId, flags] = m;
  if (version === "ff" || isAllZero(traceId) || isAllZero(parentId)) return null;
  return { traceId, parentId, flags };
}

/** The trace context of an incoming request: continued from `traceparent`, else new. */
export function traceFromHeader(header: string | null | undefined): TraceContext {
  return parseTraceparent(header) ?? { traceId: newTraceId(), parentId: null, flags: "01" };
}

/** A `traceparent` value for an outgoing call within the given trace (new span id). */
export function outgoingTraceparent(traceId: string = newTraceId(), flags = "01"): string {
  return `00-${traceId}-${newSpanId()}-${flags}`;
}
