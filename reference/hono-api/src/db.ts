// PostgreSQL access (node-postgres): schema, queries, provider-state fixtures.
import { readFile } from "node:fs/promises";
import pg from "pg";
import { logger } from "./logger.js";

export type Pool = pg.Pool;

export function createPool(databaseUrl: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30000,
    application_name: "covenant-hono-api",
  });
  // An idle client losing its connection must not crash the process.
  pool.on("error", (err) => logger.error("postgres idle client error", { error: err.message }));
  return pool;
}

/** Applies reference/schema.sql (idempotent). Retries while the database is starting. */
export async function applySchema(pool: pg.Pool, schemaPath: string, deadlineMs = 30000): Promise<void> {
  const sql = await readFile(schemaPath, "utf8");
  const started = Date.now();
  let attempt = 0;
  for (;;) {
    attempt += 1;
    try {
      const client = await pool.connect();
      try {
        // Other services apply the same schema at the same moment; serialise on a lock.
        await client.query("SELECT pg_advisory_lock(hashtext('covenant-reference-schema'))");
        try {
          await client.query(sql);
        } finally {
          await client.query("SELECT pg_advisory_unlock(hashtext('covenant-reference-schema'))");
        }
      } finally {
        client.release();
      }
      logger.info("database schema applied", { schema: schemaPath, attempt });
      return;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (Date.now() - started > deadlineMs) throw err;
      logger.warn("applying database schema failed; retrying", { attempt, error: message });
      await new Promise((r) => setTimeout(r, Math.min(250 * attempt, 2000)));
    }
  }
}

export interface EventRow {
  id: string;
  title: string;
  starts_at: Date | null;
  city: string | null;
  source_url: string | null;
  quality_score: number | null;
}

export interface EventSummaryData {
  id: string;
  title: string;
  startsAt: string | null;
  city: string | null;
}

export interface EventDetailData extends EventSummaryData {
  sourceUrl: string | null;
  qualityScore: number | null;
  speakers: { name: string; title: string | null; company: string | null }[];
  companies: { name: string }[];
}

function toSummary(row: EventRow): EventSummaryData {
  return {
    id: row.id,
    title: row.title,
    startsAt: row.starts_at ? row.starts_at.toISOString() : null,
    city: row.city,
  };
}

const SUMMARY_COLUMNS = "e.id, e.title, e.starts_at, e.city";
const ORDER = "ORDER BY e.starts_at ASC NULLS LAST, e.created_at ASC, e.id ASC";

/** Offsets beyond this cannot hold rows; Postgres' OFFSET is a bigint. */
const MAX_OFFSET = 1e15;

export async function listEvents(
  pool: pg.Pool,
  page: number,
  pageSize: number,
): Promise<{ items: EventSummaryData[]; total: number }> {
  const offset = (page - 1) * pageSize;
  const countResult = await pool.query<{ total: string }>("SELECT count(*) AS total FROM events");
  const total = Number(countResult.rows[0]?.total ?? 0);
  if (offset >= total || offset > MAX_OFFSET) return { items: [], total };
  const result = await pool.query<EventRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM events e ${ORDER} LIMIT $1 OFFSET $2`,
    [pageSize, offset],
  );
  return { items: result.rows.map(toSummary), total };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => "\\" + c);
}

export const SEARCH_LIMIT = 100;

export async function searchEvents(pool: pg.Pool, q: string): Promise<EventSummaryData[]> {
  const pattern = `%${escapeLike(q)}%`;
  const result = await pool.query<EventRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM events e
      WHERE e.title ILIKE $1 ESCAPE '\\' OR e.city ILIKE $1 ESCAPE '\\'
      ${ORDER} LIMIT ${SEARCH_LIMIT}`,
    [pattern],
  );
  return result.rows.map(toSummary);
}

export async function getEvent(pool: pg.Pool, id: string): Promise<EventDetailData | null> {
  const result = await pool.query<EventRow>(
    "SELECT e.id, e.title, e.starts_at, e.city, e.source_url, e.quality_score FROM events e WHERE e.id = $1",
    [id],
  );
  const row = result.rows[0];
  if (!row) return null;
  const [speakers, companies] = await Promise.all([
    pool.query<{ name: string; title: string | null; company: string | null }>(
      "SELECT name, title, company FROM speakers WHERE event_id = $1 ORDER BY id",
      [id],
    ),
    pool.query<{ name: string }>("SELECT name FROM companies WHERE event_id = $1 ORDER BY id", [id]),
  ]);
  return {
    ...toSummary(row),
    sourceUrl: row.source_url,
    qualityScore: row.quality_score === null ? null : Number(row.quality_score),
    speakers: speakers.rows.map((s) => ({ name: s.name, title: s.title, company: s.company })),
    companies: companies.rows.map((c) => ({ name: c.name })),
  };
}

export async function eventExists(pool: pg.Pool, id: string): Promise<boolean> {
  const result = await pool.query("SELECT 1 FROM events WHERE id = $1", [id]);
  return (result.rowCount ?? 0) > 0;
}

/** Same city (case-insensitive) or a shared company (case-insensitive), at most 5, not itself. */
export async function similarEvents(pool: pg.Pool, id: string): Promise<EventSummaryData[] | null> {
  if (!(await eventExists(pool, id))) return null;
  const result = await pool.query<EventRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM events e, events src
      WHERE src.id = $1 AND e.id <> src.id
        AND ((src.city IS NOT NULL AND lower(e.city) = lower(src.city))
             OR EXISTS (SELECT 1 FROM companies c1 JOIN companies c2 ON lower(c1.name) = lower(c2.name)
                         WHERE c1.event_id = src.id AND c2.event_id = e.id))
      ${ORDER} LIMIT 5`,
    [id],
  );
  return result.rows.map(toSummary);
}

export async function pingDatabase(pool: pg.Pool): Promise<void> {
  await pool.query("SELECT 1");
}

// ---- provider-state fixtures ----

export interface EventFixture {
  id: string;
  title: string;
  city: string | null;
  startsAt: string | null;
  sourceUrl: string | null;
  qualityScore: number | null;
  speakers?: { name: string; title: string | null; company: string | null }[];
  companies?: string[];
}

/** Inserts or replaces an event (and its speakers/companies) with the given id. */
export async function upsertEvent(pool: pg.Pool, e: EventFixture): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      `INSERT INTO events (id, title, starts_at, city, source_url, quality_score)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, starts_at = EXCLUDED.starts_at,
         city = EXCLUDED.city, source_url = EXCLUDED.source_url, quality_score = EXCLUDED.quality_score`,
      [e.id, e.title, e.startsAt, e.city, e.sourceUrl, e.qualityScore],
    );
    await client.query("DELETE FROM speakers WHERE event_id = $1", [e.id]);
    await client.query("DELETE FROM companies WHERE event_id = $1", [e.id]);
    for (const s of e.speakers ?? []) {
      await client.query("INSERT INTO speakers (event_id, name, title, company) VALUES ($1, $2, $3, $4)", [
        e.id,
        s.name,
        s.title,
        s.company,
      ]);
    }
    for (const name of e.companies ?? []) {
      await client.query("INSERT INTO companies (event_id, name) VALUES ($1, $2)", [e.id, name]);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export async function deleteEvents(pool: pg.Pool, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await pool.query("DELETE FROM events WHERE id = ANY($1::uuid[])", [ids]);
}
