// Consumer hook for Covenant's Pact consumer tests: calls the processor with
// the same client module the server uses and prints one JSON line
// {"status": <int>, "body": <parsed JSON or null>}.
//
//   node dist/tools/call-processor.js --base-url URL --op process --body '{"event_id":"...","url":"..."}'
//   node dist/tools/call-processor.js --base-url URL --op job --id ID
//   node dist/tools/call-processor.js --base-url URL --op health
//
// Exit status: 0 when an HTTP answer came back (whatever its status),
// 3 when the processor was unreachable, 2 on a usage error.
import { parseArgs } from "node:util";
import { ProcessorClient, ProcessorUnreachableError, type ProcessRequest } from "../processor-client.js";
import { parseTraceparent } from "../trace.js";

function usage(message: string): never {
  process.stderr.write(
    `call-processor: ${message}\n` +
      "usage: call-processor --base-url URL --op process --body JSON | --op job --id ID | --op health [--trace-id HEX32|--traceparent TP] [--timeout-ms N]\n",
  );
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        "base-url": { type: "string" },
        op: { type: "string" },
        body: { type: "string" },
        id: { type: "string" },
        "trace-id": { type: "string" },
        traceparent: { type: "string" },
        "timeout-ms": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  const baseUrl = values["base-url"];
  if (!baseUrl) usage("--base-url is required");
  let traceId = values["trace-id"];
  if (values.traceparent) {
    const parsed = parseTraceparent(values.traceparent);
    if (!parsed) usage("--traceparent is not a valid W3C traceparent");
    traceId = parsed.traceId;
  }
  if (traceId !== undefined && !/^[0-9a-f]{32}$/.test(traceId)) usage("--trace-id must be 32 lowercase hex digits");
  const timeoutMs = values["timeout-ms"] ? Number(values["timeout-ms"]) : 10000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) usage("--timeout-ms must be a positive number");

  const client = new ProcessorClient({ baseUrl, timeoutMs });
  const options = { traceId };
  let call;
  switch (values.op) {
    case "process": {
      if (values.body === undefined) usage("--op process needs --body JSON");
      let body: unknown;
      try {
        body = JSON.parse(values.body);
      } catch {
        usage("--body is not valid JSON");
      }
      call = client.process(body as ProcessRequest, options);
      break;
    }
    case "job":
      if (values.id === undefined) usage("--op job needs --id ID");
      call = client.job(values.id, options);
      break;
    case "health":
      call = client.health(options);
      break;
    default:
      usage("--op must be process, job or health");
  }
  try {
    const answer = await call;
    process.stdout.write(JSON.stringify({ status: answer.status, body: answer.body }) + "\n");
    return 0;
  } catch (err) {
    if (err instanceof ProcessorUnreachableError) {
      process.stderr.write(`call-processor: ${err.message}\n`);
      return 3;
    }
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`call-processor: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
