// The Hono application: routes, middleware, errors, OpenAPI document.
import { randomUUID } from "node:crypto";
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import type { Pool } from "./db.js";
import * as db from "./db.js";
import { buildEventScrapedMessage, errMessage, type EventPublisher } from "./events-kafka.js";
import { logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { mountPactRoutes } from "./pact.js";
import { problem, problemResponse } from "./problem.js";
import { ProcessorUnreachableError, type ProcessorClient } from "./processor-client.js";
import {
  EventDetailSchema,
  EventIdParamSchema,
  EventPageSchema,
  HealthSchema,
  ListQuerySchema,
  ProblemSchema,
  ScrapeAcceptedSchema,
  ScrapeRequestSchema,
  SearchQuerySchema,
  SearchResultSchema,
  SimilarResultSchema,
} from "./schemas.js";
import { outgoingTraceparent, traceFromHeader } from "./trace.js";

export type Fault = "renamed-field" | "wrong-status" | "missing-endpoint" | null;

export function parseFault(value: string | undefined): Fault {
  const v = (value ?? "").trim();
  if (v === "") return null;
  if (v === "renamed-field" || v === "wrong-status" || v === "missing-endpoint") return v;
  throw new Error(`unknown COVENANT_FAULT ${JSON.stringify(v)} (expected renamed-field, wrong-status or missing-endpoint)`);
}

export interface AppDeps {
  pool: Pool;
  processor: ProcessorClient;
  publisher: EventPublisher | null;
  metrics: Metrics;
  fault: Fault;
  pactStates: boolean;
  version?: string;
}

export type AppEnv = { Variables: { traceId: string } };

// ---- OpenAPI building blocks ----

const problemContent = { "application/problem+json": { schema: ProblemSchema } };
const problemResponseSpec = (description: string) => ({ description, content: problemContent });

const listRoute = createRoute({
  method: "get",
  path: "/api/events",
  operationId: "listEvents",
  tags: ["events"],
  summary: "A page of events",
  request: { query: ListQuerySchema },
  responses: {
    200: { description: "A page of event summaries", content: { "application/json": { schema: EventPageSchema } } },
    400: problemResponseSpec("page < 1, pageSize outside 1..100, or not integers"),
    503: problemResponseSpec("The database is unavailable"),
  },
});

const searchRoute = createRoute({
  method: "get",
  path: "/api/events/search",
  operationId: "searchEvents",
  tags: ["events"],
  summary: "Events whose title or city contains q (case-insensitive)",
  request: { query: SearchQuerySchema },
  responses: {
    200: { description: "Matching event summaries", content: { "application/json": { schema: SearchResultSchema } } },
    400: problemResponseSpec("q missing, empty or longer than 200 characters"),
    503: problemResponseSpec("The database is unavailable"),
  },
});

const detailRoute = createRoute({
  method: "get",
  path: "/api/events/{id}",
  operationId: "getEvent",
  tags: ["events"],
  summary: "One event with its speakers and companies",
  request: { params: EventIdParamSchema },
  responses: {
    200: { description: "The event", content: { "application/json": { schema: EventDetailSchema } } },
    400: problemResponseSpec("id is not a UUID"),
    404: problemResponseSpec("No event with this id"),
    503: problemResponseSpec("The database is unavailable"),
  },
});

const similarRoute = createRoute({
  method: "get",
  path: "/api/events/{id}/similar",
  operationId: "similarEvents",
  tags: ["events"],
  summary: "Up to 5 events in the same city or sharing a company",
  request: { params: EventIdParamSchema },
  responses: {
    200: { description: "Similar events (not the event itself)", content: { "application/json": { schema: SimilarResultSchema } } },
    400: problemResponseSpec("id is not a UUID"),
    404: problemResponseSpec("No event with this id"),
    503: problemResponseSpec("The database is unavailable"),
  },
});

const scrapeRoute = createRoute({
  method: "post",
  path: "/api/scrape/luma",
  operationId: "scrapeLuma",
  tags: ["scrape"],
  summary: "Ask the processor to scrape a Luma event page",
  request: {
    body: { required: true, content: { "application/json": { schema: ScrapeRequestSchema } } },
  },
  responses: {
    202: { description: "The processor accepted the job", content: { "application/json": { schema: ScrapeAcceptedSchema } } },
    400: problemResponseSpec("Malformed JSON, url missing, or not an https://lu.ma/ or https://luma.com/ URL"),
    415: problemResponseSpec("The body is not application/json"),
    503: problemResponseSpec("The processor is unreachable or failed"),
  },
});

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "health",
  tags: ["operations"],
  summary: "Health of the service and its dependencies (database, processor)",
  responses: {
    200: { description: "All dependencies are up", content: { "application/json": { schema: HealthSchema } } },
    503: { description: "A dependency is down (same shape)", content: { "application/json": { schema: HealthSchema } } },
  },
});

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  operationId: "metrics",
  tags: ["operations"],
  summary: "Prometheus metrics",
  responses: {
    200: {
      description: "Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
  },
});

const openapiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  operationId: "openapi",
  tags: ["operations"],
  summary: "This OpenAPI document",
  responses: {
    200: {
      description: "OpenAPI 3.0 document",
      content: { "application/json": { schema: z.object({}).passthrough().openapi("OpenAPIDocument") } },
    },
  },
});

// ---- helpers ----

type Summary = db.EventSummaryData;

function presentSummary(s: Summary, fault: Fault): Record<string, unknown> {
  if (fault === "renamed-field") {
    const { title, ...rest } = s;
    return { id: rest.id, name: title, startsAt: rest.startsAt, city: rest.city };
  }
  return { id: s.id, title: s.title, startsAt: s.startsAt, city: s.city };
}

function presentDetail(d: db.EventDetailData, fault: Fault): Record<string, unknown> {
  return {
    ...presentSummary(d, fault),
    sourceUrl: d.sourceUrl,
    qualityScore: d.qualityScore,
    speakers: d.speakers,
    companies: d.companies,
  };
}

// The handlers answer plain Responses (problem documents, fault variants), which
// the typed-response inference of @hono/zod-openapi cannot follow: hence `never`.
function json(c: Context, body: unknown, status: 200 | 202 | 503): never {
  return c.json(body as object, status) as never;
}

function fail(p: ReturnType<typeof problem>, headers?: Record<string, string>): never {
  return problemResponse(p, headers) as never;
}

/** Errors of the database connection (as opposed to bugs) become 503. */
function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    if (/^(08|53|57|58)/.test(code)) return true; // connection, resources, operator intervention, system
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EPIPE|EAI_AGAIN)$/.test(code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end|connect ECONNREFUSED/i.test(
    err.message,
  );
}

function isDataException(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && code.startsWith("22");
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { pool, processor, publisher, metrics, fault } = deps;

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map((i) => {
          const where = i.path.length > 0 ? i.path.join(".") : result.target === "json" ? "body" : result.target;
          // our own messages already name the field ("url is required")
          return i.message.startsWith(`${where} `) ? i.message : `${where}: ${i.message}`;
        });
        return problemResponse(problem(400, issues.join("; "), "validation-error", "Invalid request"));
      }
      return undefined;
    },
  });

  // ---- trace, log and measure every request ----
  app.use("*", async (c, next) => {
    const started = process.hrtime.bigint();
    const trace = traceFromHeader(c.req.header("traceparent"));
    c.set("traceId", trace.traceId);
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // the route template of the handler that answered; "unmatched" for 404/405
      const answered = matchedRoutes(c)[c.req.routeIndex];
      const route = answered && answered.method !== "ALL" ? answered.path : "unmatched";
      const status = String(c.res.status);
      metrics.httpRequests.inc({ method: c.req.method, route, status });
      metrics.httpDuration.observe({ method: c.req.method, route, status }, seconds);
      if (route !== "/metrics" && route !== "/health") {
        logger.info("request", {
          trace_id: trace.traceId,
          method: c.req.method,
          path: c.req.path,
          route,
          status: c.res.status,
          duration_ms: Math.round(seconds * 1e6) / 1e3,
        });
      }
    }
  });

  // ---- events ----
  app.openapi(listRoute, async (c) => {
    const { page, pageSize } = c.req.valid("query");
    const { items, total } = await db.listEvents(pool, page, pageSize);
    return json(c, { items: items.map((s) => presentSummary(s, fault)), page, pageSize, total }, 200);
  });

  // registered before /api/events/{id} so that "search" is not taken for an id
  app.openapi(searchRoute, async (c) => {
    const { q } = c.req.valid("query");
    // PostgreSQL text cannot contain NUL, so such a query cannot match anything
    const items = q.includes("\u0000") ? [] : await db.searchEvents(pool, q);
    return json(c, { items: items.map((s) => presentSummary(s, fault)), query: q }, 200);
  });

  app.openapi(detailRoute, async (c) => {
    const { id } = c.req.valid("param");
    const event = await db.getEvent(pool, id);
    if (!event) return fail(problem(404, `no event with id ${id}`, "event-not-found", "Event not found"));
    return json(c, presentDetail(event, fault), 200);
  });

  if (fault === "missing-endpoint") {
    // documented, but deliberately not routed: every request falls through to 404
    app.openAPIRegistry.registerPath(similarRoute);
  } else {
    app.openapi(similarRoute, async (c) => {
      const { id } = c.req.valid("param");
      const items = await db.similarEvents(pool, id);
      if (!items) return fail(problem(404, `no event with id ${id}`, "event-not-found", "Event not found"));
      return json(c, { items: items.map((s) => presentSummary(s, fault)) }, 200);
    });
  }

  // ---- scrape ----
  app.openapi(scrapeRoute, async (c) => {
    const { url } = c.req.valid("json");
    const traceId = c.get("traceId");
    const eventId = randomUUID();
    const requestedAt = new Date();
    const unavailable = (detail: string) =>
      fail(problem(503, detail, "processor-unavailable", "Processor unavailable"));

    let answer;
    try {
      answer = await processor.process({ event_id: eventId, url }, { traceId });
    } catch (err) {
      if (err instanceof ProcessorUnreachableError) {
        metrics.processorCalls.inc({ operation: "process", outcome: "unreachable" });
        logger.warn("processor unreachable", { trace_id: traceId, event_id: eventId, error: err.message });
        return unavailable(err.message);
      }
      throw err;
    }
    metrics.processorCalls.inc({ operation: "process", outcome: String(answer.status) });
    if (answer.status >= 500) {
      logger.warn("processor failed", { trace_id: traceId, event_id: eventId, processor_status: answer.status });
      return unavailable(`processor answered ${answer.status}`);
    }
    const body = answer.body as { job_id?: unknown; status?: unknown } | null;
    if (
      answer.status < 200 ||
      answer.status >= 300 ||
      !body ||
      typeof body !== "object" ||
      typeof body.job_id !== "string" ||
      typeof body.status !== "string"
    ) {
      logger.warn("processor gave an unexpected answer", {
        trace_id: traceId,
        event_id: eventId,
        processor_status: answer.status,
      });
      return unavailable(`processor gave an unexpected answer (status ${answer.status})`);
    }
    logger.info("scrape accepted", { trace_id: traceId, event_id: eventId, job_id: body.job_id, url });

    if (publisher) {
      const message = buildEventScrapedMessage({
        eventId,
        url,
        requestedAt,
        traceparent: outgoingTraceparent(traceId),
      });
      // best effort and off the request path: failures are logged by the publisher
      void publisher.publish(message, traceId).then((ok) =>
        metrics.kafkaMessages.inc({ topic: message.topic, result: ok ? "ok" : "error" }),
      );
    }
    const accepted = { eventId, jobId: body.job_id, status: body.status };
    return fault === "wrong-status" ? json(c, accepted, 200) : json(c, accepted, 202);
  });

  // ---- operations ----
  app.openapi(healthRoute, async (c) => {
    const traceId = c.get("traceId");
    const [database, proc] = await Promise.all([
      db.pingDatabase(pool).then(
        () => "ok",
        (err) => `error: ${errMessage(err)}`,
      ),
      processor.health({ traceId, timeoutMs: 2000 }).then(
        (a) => (a.status === 200 ? "ok" : `error: processor answered ${a.status}`),
        (err) => `error: ${errMessage(err)}`,
      ),
    ]);
    const ok = database === "ok" && proc === "ok";
    const body = { status: ok ? "ok" : "error", service: "hono-api", checks: { database, processor: proc } };
    return json(c, body, ok ? 200 : 503);
  });

  app.openapi(metricsRoute, async (c) => {
    const text = await metrics.registry.metrics();
    return c.body(text, 200, { "content-type": metrics.registry.contentType }) as never;
  });

  let openapiDocument: unknown = null;
  app.openapi(openapiRoute, (c) => {
    openapiDocument ??= app.getOpenAPIDocument({
      openapi: "3.0.3",
      info: {
        title: "Covenant reference hono-api",
        version: deps.version ?? "0.1.0",
        description:
          "API gateway of Covenant's reference event platform. Errors are RFC 9457 problem documents (application/problem+json).",
      },
      tags: [
        { name: "events", description: "Stored events" },
        { name: "scrape", description: "Scrape requests, forwarded to the processor" },
        { name: "operations", description: "Health, metrics, this document" },
      ],
    });
    return json(c, openapiDocument, 200);
  });

  // ---- provider states and messages (Pact), never in the OpenAPI document ----
  if (deps.pactStates) mountPactRoutes(app, { pool, processor });

  // ---- unknown routes, wrong methods, errors ----
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0) {
      return problemResponse(
        problem(405, `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(", ")}`),
        { allow: allowed.join(", ") },
      );
    }
    return problemResponse(problem(404, `no route for ${c.req.method} ${c.req.path}`, "route-not-found", "Not Found"));
  });

  app.onError((err, c) => {
    const traceId = c.get("traceId");
    if (err instanceof HTTPException) {
      const status = err.status;
      const detail = err.message || "request rejected";
      return problemResponse(problem(status, detail));
    }
    if (isDataException(err)) {
      logger.warn("database rejected input", { trace_id: traceId, error: errMessage(err) });
      return problemResponse(problem(400, `invalid input: ${errMessage(err)}`));
    }
    if (isDatabaseUnavailable(err)) {
      logger.error("database unavailable", { trace_id: traceId, error: errMessage(err) });
      return problemResponse(problem(503, "the database is unavailable", "database-unavailable", "Database unavailable"));
    }
    logger.error("unhandled error", {
      trace_id: traceId,
      error: errMessage(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
    return problemResponse(problem(500, "internal error; see the service log for this trace id"));
  });

  return app;
}

/** Methods routed for a path (used to answer 405 instead of 404). */
function allowedMethods(app: OpenAPIHono<AppEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const r of app.routes) {
    if (r.method === "ALL") continue;
    const re = new RegExp(
      "^" + r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z0-9_]+/g, "[^/]+") + "/?$",
    );
    if (re.test(path)) methods.add(r.method.toUpperCase());
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

