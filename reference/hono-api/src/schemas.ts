// Zod schemas: request validation and the OpenAPI document (@hono/zod-openapi).
import { z } from "@hono/zod-openapi";

/** Any 8-4-4-4-12 hex UUID (PostgreSQL's uuid accepts every version/variant). */
export const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** https://lu.ma/... or https://luma.com/..., printable ASCII without spaces. */
export const LUMA_URL_RE = /^https:\/\/(lu\.ma|luma\.com)\/[!-~]*$/;
export const MAX_URL_LENGTH = 2048;

/** Length in Unicode code points (what JSON Schema's maxLength counts). */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "https://covenant.dev/problems/not-found" }),
    title: z.string().openapi({ example: "Not Found" }),
    status: z.number().int().openapi({ example: 404 }),
    detail: z.string().openapi({ example: "no event with id 4f1c2b9e-0000-4000-8000-000000000000" }),
  })
  .openapi("Problem", { description: "RFC 9457 problem document" });

export const EventSummarySchema = z
  .object({
    id: z.string().openapi({ format: "uuid", example: "4f1c2b9e-8d3a-4c55-9a77-1e2f3a4b5c6d" }),
    title: z.string().openapi({ example: "Covenant Launch Night" }),
    startsAt: z.string().nullable().openapi({ format: "date-time", example: "2030-01-01T18:00:00.000Z" }),
    city: z.string().nullable().openapi({ example: "Berlin" }),
  })
  .openapi("EventSummary");

export const SpeakerSchema = z
  .object({
    name: z.string(),
    title: z.string().nullable(),
    company: z.string().nullable(),
  })
  .openapi("Speaker");

export const CompanySchema = z.object({ name: z.string() }).openapi("Company");

export const EventDetailSchema = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    title: z.string(),
    startsAt: z.string().nullable().openapi({ format: "date-time" }),
    city: z.string().nullable(),
    sourceUrl: z.string().nullable(),
    qualityScore: z.number().nullable(),
    speakers: z.array(SpeakerSchema),
    companies: z.array(CompanySchema),
  })
  .openapi("EventDetail");

export const EventPageSchema = z
  .object({
    items: z.array(EventSummarySchema),
    page: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    pageSize: z.number().int().min(1).max(100),
    total: z.number().int().min(0),
  })
  .openapi("EventPage");

export const SearchResultSchema = z
  .object({
    items: z.array(EventSummarySchema),
    query: z.string(),
  })
  .openapi("EventSearchResult");

export const SimilarResultSchema = z
  .object({
    items: z.array(EventSummarySchema).max(5),
  })
  .openapi("SimilarEvents");

export const ScrapeRequestSchema = z
  .object({
    url: z
      .string({ error: (iss) => (iss.input === undefined ? "url is required" : "url must be a string") })
      .max(MAX_URL_LENGTH, { error: `url must be at most ${MAX_URL_LENGTH} characters` })
      .regex(LUMA_URL_RE, { error: "url must be an https://lu.ma/ or https://luma.com/ URL" })
      .openapi({ example: "https://lu.ma/covenant-demo" }),
  })
  .strict()
  .openapi("ScrapeRequest");

export const ScrapeAcceptedSchema = z
  .object({
    eventId: z.string().openapi({ format: "uuid" }),
    jobId: z.string().openapi({ example: "9b2d7c1e-3f4a-4b5c-8d6e-7f8091a2b3c4" }),
    status: z.string().openapi({ example: "queued" }),
  })
  .openapi("ScrapeAccepted");

export const HealthSchema = z
  .object({
    status: z.enum(["ok", "error"]),
    service: z.string().openapi({ example: "hono-api" }),
    checks: z
      .object({
        database: z.string().openapi({ example: "ok" }),
        processor: z.string().openapi({ example: "ok" }),
      })
      .openapi({ description: '"ok" or "error: <reason>" per dependency' }),
  })
  .openapi("Health");

// ---- request parameters ----

export const EventIdParamSchema = z.object({
  id: z
    .string()
    .regex(UUID_RE, { error: "id must be a UUID" })
    .openapi({ param: { name: "id", in: "path", required: true }, format: "uuid" }),
});

const PAGE_ERROR = `page must be an integer between 1 and ${Number.MAX_SAFE_INTEGER}`;
const PAGE_SIZE_ERROR = "pageSize must be an integer between 1 and 100";

export const ListQuerySchema = z.object({
  // a page past the end is just empty; the bound keeps `page` exact in the answer
  page: z.coerce
    .number({ error: PAGE_ERROR })
    .refine((n) => Number.isSafeInteger(n) && n >= 1, { error: PAGE_ERROR })
    .default(1)
    .openapi({
      param: { name: "page", in: "query", required: false },
      type: "integer",
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 1,
      example: 1,
    }),
  pageSize: z.coerce
    .number({ error: PAGE_SIZE_ERROR })
    .refine((n) => Number.isInteger(n) && n >= 1 && n <= 100, { error: PAGE_SIZE_ERROR })
    .default(20)
    .openapi({
      param: { name: "pageSize", in: "query", required: false },
      type: "integer",
      minimum: 1,
      maximum: 100,
      default: 20,
      example: 20,
    }),
});

export const SearchQuerySchema = z.object({
  q: z
    .string({ error: "q is required" })
    .refine((s) => codePoints(s) >= 1 && codePoints(s) <= 200, { error: "q must be 1 to 200 characters" })
    .openapi({
      param: { name: "q", in: "query", required: true },
      minLength: 1,
      maxLength: 200,
      example: "berlin",
    }),
});
