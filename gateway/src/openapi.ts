// The gateway's OpenAPI document: the runtime derives it from the proto
// (runtime/src/openapi.ts); this adds only what the proto cannot say:
// summaries, the documented response shapes that differ from proto JSON
// (bare arrays, raw bytes, Prometheus text) and the gateway's own answers
// (an empty queue, quotas, API keys).
import type { DescField, DescMethod, DescService } from "@bufbuild/protobuf";
import { GatewayService } from "../../gen/lokey/v1/gateway_pb.js";
import { errorResponse, fieldRules, openApiDocument, openApiRoute as serveDocument, type Operation, type RawRoute } from "../../runtime/src/index.js";

const SUMMARIES: Record<string, string> = {
  getData: "Random values from a queue (all or nothing; consumed when read by default)",
  getHealth: "Health of the gateway and its dependencies",
  getStatus: "Queue counters and database size",
  getQueueConfig: "Queue capacities in items",
  updateQueueConfig: "Change queue capacities (applied at once, persisted)",
  getConsumeConfig: "Whether reads delete what they serve",
  updateConsumeConfig: "Switch delete-on-read on or off (persisted)",
  getMetrics: "Prometheus metrics",
  streamData: "Stream random bytes (chunked) until the client stops or max_bytes is reached",
  getIntegers: "Unbiased integers in [min, max] (rejection sampling)",
  getUuids: "RFC 9562 version 4 UUIDs",
  getBytes: "Random bytes as hex or base64 text",
  getUsage: "What the caller's quotas leave it now, per source, and who it is counted as",
};

// Longer notes, from the proto where they hold numbers.
const DESCRIPTIONS: Record<string, (method: DescMethod) => string> = {
  updateQueueConfig: (method) => {
    const range = (f: DescField) => `${fieldRules(f)?.min}..${fieldRules(f)?.max}`;
    const sizes = method.input.fields.map((f) => `${f.name} ${range(f)}`).join(", ");
    return `Sizes are items (${sizes}): the original LoKey's limits, so scripts written for it get the same 400s. TRNG_QUEUE_SIZE and FORTUNA_QUEUE_SIZE take the same values.`;
  },
};

// The documented REST shapes where they are not the response message's JSON.
function documentedResponse(method: DescMethod): Record<string, unknown> | undefined {
  switch (method.localName) {
    case "getData":
      return {
        description: "Numeric formats: a bare JSON array of exact integers (big-endian, two's complement). binary: the raw bytes.",
        headers: { "Content-Disposition": { description: "binary only: attachment; filename=random.bin", schema: { type: "string" } } },
        content: {
          "application/json": { schema: { type: "array", items: { type: "integer" } }, example: [142, 37, 219] },
          "application/octet-stream": { schema: { type: "string", format: "binary" } },
        },
      };
    case "getMetrics":
      return { description: "Prometheus text exposition", content: { "text/plain": { schema: { type: "string" } } } };
    case "streamData":
      return { description: "Random bytes, chunked", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } };
    default:
      return undefined;
  }
}

// Methods that draw from a queue can find it empty.
const TAKES_DATA = new Set(["getData", "getIntegers", "getUuids", "getBytes"]);
// Methods counted against the caller's quotas (gateway/src/quota/), and the one that reports them.
const QUOTA_METHODS = new Set([...TAKES_DATA, "streamData"]);
const KNOWS_CALLER = new Set([...QUOTA_METHODS, "getUsage"]);

const QUOTA_HEADERS = {
  "Retry-After": { description: "Seconds until the request would be admitted (RFC 9110 §10.2.3)", schema: { type: "integer" } },
  "RateLimit-Policy": { description: 'The source\'s quotas, draft-ietf-httpapi-ratelimit-headers-09, e.g. "trng-requests";q=600;w=60, "trng-bytes";q=32768;qu="content-bytes";w=120', schema: { type: "string" } },
  RateLimit: { description: 'What is left of each, e.g. "trng-requests";r=598;t=1, "trng-bytes";r=0;t=120 (t: seconds until full again)', schema: { type: "string" } },
};

function describe(method: DescMethod, op: Operation): void {
  const name = method.localName;
  op.summary = SUMMARIES[name] ?? method.name;
  if (DESCRIPTIONS[name]) op.description = DESCRIPTIONS[name](method);
  op.tags = [TAKES_DATA.has(name) || name === "streamData" ? "random" : "gateway"];
  if (TAKES_DATA.has(name)) op.responses["404"] = errorResponse("No data available (nothing was consumed)");
  if (name === "updateQueueConfig") op.responses["500"] = errorResponse("Failed to update queue configuration");
  if (QUOTA_METHODS.has(name)) op.responses["429"] = { ...errorResponse("Over the caller's quota for this source (nothing was consumed)"), headers: QUOTA_HEADERS };
  if (KNOWS_CALLER.has(name)) {
    op.responses["401"] = errorResponse("X-API-Key names no key of API_KEYS_FILE");
    // The key is optional: without one the caller is counted by address.
    op.security = [{}, { apiKey: [] }];
  }
}

export function buildOpenApi(service: DescService = GatewayService): Record<string, unknown> {
  return openApiDocument(service, {
    info: {
      title: "LoKey gateway API",
      version: "1.0.0",
      description:
        "Random numbers from a hardware TRNG (an ATECC608A; without one, the OS CSPRNG, named as the source's `origin` in /api/v1/status) " +
        "and from a Fortuna CSPRNG seeded by it. The same operations are served as gRPC, gRPC-Web and Connect (lokey.v1.GatewayService).",
    },
    response: documentedResponse,
    operation: describe,
    components: {
      securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "A key of API_KEYS_FILE: quotas count per key instead of per address" } },
    },
  });
}

export function openApiRoute(path = "/openapi.json"): RawRoute {
  return serveDocument(buildOpenApi(), path);
}
