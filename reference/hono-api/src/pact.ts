// Pact provider states (POST /_pact/provider-states) and message provider
// (POST /_pact/messages). Mounted only with PACT_PROVIDER_STATES=true and never
// listed in /openapi.json.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import * as db from "./db.js";
import { buildEventScrapedMessage, toPactMessage } from "./events-kafka.js";
import { logger } from "./logger.js";
import { problem, problemResponse } from "./problem.js";
import type { ProcessorClient } from "./processor-client.js";
import { UUID_RE } from "./schemas.js";

export const STATES = [
  "an event with id {id} exists",
  "events exist",
  "no event with id {id} exists",
  "the processor is available",
  "the processor is down",
] as const;

/** The three events of the state "events exist". */
export const SEEDED_EVENTS: db.EventFixture[] = [
  {
    id: "11111111-1111-4111-8111-111111111111",
    title: "Covenant Launch Night",
    city: "Berlin",
    startsAt: "2030-03-01T18:00:00.000Z",
    sourceUrl: "https://lu.ma/covenant-launch",
    qualityScore: 0.92,
    speakers: [{ name: "Ada Lovelace", title: "Chief Engineer", company: "Analytical Engines" }],
    companies: ["Analytical Engines"],
  },
  {
    id: "22222222-2222-4222-8222-222222222222",
    title: "Contract Testing Meetup",
    city: "Berlin",
    startsAt: "2030-03-15T17:30:00.000Z",
    sourceUrl: "https://lu.ma/contract-testing",
    qualityScore: 0.81,
    speakers: [{ name: "Grace Hopper", title: "Rear Admiral", company: "Analytical Engines" }],
    companies: ["Analytical Engines"],
  },
  {
    id: "33333333-3333-4333-8333-333333333333",
    title: "Lisbon Data Summit",
    city: "Lisbon",
    startsAt: "2030-04-02T09:00:00.000Z",
    sourceUrl: "https://luma.com/lisbon-data",
    qualityScore: 0.74,
    speakers: [{ name: "Alan Turing", title: null, company: null }],
    companies: ["Bletchley Labs"],
  },
];

/** Example values of the "an event.scraped message" interaction (deterministic). */
export const EXAMPLE_MESSAGE = {
  eventId: "0d1f7a3e-5b6c-4d8e-9f0a-1b2c3d4e5f60",
  url: "https://lu.ma/covenant-demo",
  requestedAt: new Date("2030-01-01T12:00:00.000Z"),
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
};

class BadState extends Error {}

function bad(detail: string): Response {
  return problemResponse(problem(400, detail, "invalid-provider-state", "Invalid provider state"));
}

async function readJsonObject(c: Context): Promise<Record<string, unknown> | Response> {
  let body: unknown;
  try {
    const text = await c.req.text();
    body = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    return problemResponse(problem(400, "Malformed JSON in request body"));
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return bad("the body must be a JSON object");
  return body as Record<string, unknown>;
}

function optionalText(params: Record<string, unknown>, key: string, fallback: string | null): string | null {
  const v = params[key];
  if (v === undefined) return fallback;
  if (v === null) return null;
  if (typeof v !== "string" || v.includes("\u0000")) throw new BadState(`params.${key} must be a string`);
  return v;
}

/** id from params, else from the state text ("an event with id <uuid> exists"). */
function stateId(params: Record<string, unknown>, fromText: string | undefined): string | null {
  const v = params.id ?? (fromText && fromText !== "{id}" ? fromText : undefined);
  if (v === undefined || v === null) return null;
  return String(v);
}

interface StateContext {
  pool: db.Pool;
  processor: ProcessorClient;
}

async function applyState(
  ctx: StateContext,
  state: string,
  params: Record<string, unknown>,
  action: "setup" | "teardown",
): Promise<Record<string, unknown> | null> {
  let m: RegExpExecArray | null;

  if ((m = /^an event with id (\S+) exists$/.exec(state))) {
    const id = stateId(params, m[1]);
    if (!id || !UUID_RE.test(id)) throw new BadState("params.id must be a UUID");
    if (action === "teardown") {
      await db.deleteEvents(ctx.pool, [id]);
      return {};
    }
    const title = optionalText(params, "title", "Covenant Launch Night");
    if (!title) throw new BadState("params.title must be a non-empty string");
    await db.upsertEvent(ctx.pool, {
      id,
      title,
      city: optionalText(params, "city", "Berlin"),
      startsAt: "2030-03-01T18:00:00.000Z",
      sourceUrl: "https://lu.ma/covenant-launch",
      qualityScore: 0.92,
      speakers: [{ name: "Ada Lovelace", title: "Chief Engineer", company: "Analytical Engines" }],
      companies: ["Analytical Engines"],
    });
    return { id };
  }

  if (state === "events exist") {
    const ids = SEEDED_EVENTS.map((e) => e.id);
    if (action === "teardown") {
      await db.deleteEvents(ctx.pool, ids);
      return {};
    }
    for (const e of SEEDED_EVENTS) await db.upsertEvent(ctx.pool, e);
    return { ids };
  }

  if ((m = /^no event with id (\S+) exists$/.exec(state))) {
    const id = stateId(params, m[1]);
    if (!id) throw new BadState("params.id is required");
    // an id that is not a UUID cannot exist in the uuid column: nothing to delete
    if (action === "setup" && UUID_RE.test(id)) await db.deleteEvents(ctx.pool, [id]);
    return { id };
  }

  // "the processor is down" lasts for one interaction: its teardown restores
  // the real processor, so a verification never leaves the service degraded.
  if (state === "the processor is available") {
    if (action === "setup") ctx.processor.forcedDown = false;
    return {};
  }
  if (state === "the processor is down") {
    ctx.processor.forcedDown = action === "setup";
    return {};
  }
  return null;
}

export function mountPactRoutes(app: OpenAPIHono<any>, ctx: StateContext): void {
  app.post("/_pact/provider-states", async (c) => {
    const body = await readJsonObject(c);
    if (body instanceof Response) return body;
    const { state, params, action } = body;
    // The Pact verifier calls the state URL with an empty state for interactions
    // without provider states: nothing to do.
    if (state === undefined || state === null || (typeof state === "string" && state.trim() === "")) {
      return c.json({}, 200);
    }
    if (typeof state !== "string") return bad("state must be a string");
    if (params !== undefined && params !== null && (typeof params !== "object" || Array.isArray(params))) {
      return bad("params must be a JSON object");
    }
    if (action !== undefined && action !== null && action !== "setup" && action !== "teardown") {
      return bad('action must be "setup" or "teardown"');
    }
    const act = (action ?? "setup") as "setup" | "teardown";
    const p = (params ?? {}) as Record<string, unknown>;
    let result: Record<string, unknown> | null;
    try {
      result = await applyState(ctx, state, p, act);
    } catch (err) {
      if (err instanceof BadState) return bad(`${state}: ${err.message}`);
      throw err;
    }
    if (result === null) {
      return bad(`unknown provider state ${JSON.stringify(state)}; known states: ${STATES.join("; ")}`);
    }
    logger.info("provider state", { trace_id: c.get("traceId"), state, action: act, params: p });
    return c.json(result, 200);
  });

  app.post("/_pact/messages", async (c) => {
    const body = await readJsonObject(c);
    if (body instanceof Response) return body;
    const { description } = body;
    if (typeof description !== "string") return bad("description must be a string");
    if (description !== "an event.scraped message") {
      return bad(`unknown message ${JSON.stringify(description)}; known messages: an event.scraped message`);
    }
    const message = toPactMessage(buildEventScrapedMessage(EXAMPLE_MESSAGE));
    return c.json(message, 200, {
      // how Pact's message proxy conventionally passes metadata
      "pact-message-metadata": Buffer.from(JSON.stringify(message.metadata)).toString("base64"),
    });
  });
}
