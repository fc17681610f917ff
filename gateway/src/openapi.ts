// The OpenAPI 3 document of the REST API, derived from the proto: paths and
// verbs from the google.api.http annotations, request schemas and limits from
// the messages and their (lokey.options.v1.rules). Only what the proto cannot
// say is written here: summaries and the documented response shapes that
// differ from proto JSON (bare arrays, raw bytes, Prometheus text).
import { getOption, hasOption, ScalarType, type DescEnum, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { GatewayService } from "../../gen/lokey/v1/gateway_pb.js";
import { enumShortName, fieldRules, send, type RawRoute } from "../../runtime/src/index.js";

type Schema = Record<string, unknown>;

export interface HttpBinding {
  verb: string;
  path: string;
  body: string;
}

const VERBS = ["get", "put", "post", "delete", "patch"];

export function httpBindings(method: DescMethod): HttpBinding[] {
  if (!hasOption(method, http)) return [];
  const walk = (rule: HttpRule): HttpBinding[] => {
    const p = rule.pattern;
    const own: HttpBinding[] = [];
    if (p.case === "custom") own.push({ verb: p.value.kind.toUpperCase(), path: p.value.path, body: rule.body });
    else if (p.case && VERBS.includes(p.case)) own.push({ verb: p.case.toUpperCase(), path: p.value as string, body: rule.body });
    return [...own, ...rule.additionalBindings.flatMap(walk)];
  };
  return walk(getOption(method, http));
}

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

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ "application/json": { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref("Error")) });

function enumSchema(e: DescEnum): Schema {
  return { type: "string", enum: e.values.filter((v) => v.number !== 0).map((v) => enumShortName(e, v.number)) };
}

function scalarSchema(scalar: ScalarType): Schema {
  switch (scalar) {
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int32", minimum: 0 };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "integer", format: "int64", minimum: 0 };
    default:
      return { type: "integer", format: "int64" };
  }
}

function fieldSchema(f: DescField, schemas: Record<string, Schema>): Schema {
  const one = (): Schema => {
    if (f.enum) return enumSchema(f.enum);
    if (f.message) {
      addMessage(f.message, schemas);
      return ref(f.message.typeName);
    }
    return scalarSchema(f.scalar!);
  };
  const s = f.fieldKind === "list" ? { type: "array", items: one() } : one();
  const r = fieldRules(f);
  if (r?.min !== undefined) s.minimum = Number(r.min);
  if (r?.max !== undefined) s.maximum = Number(r.max);
  if (r?.default !== undefined) s.default = Number(r.default);
  if (r?.minLen !== undefined) s.minLength = r.minLen;
  if (r?.maxLen !== undefined) s.maxLength = r.maxLen;
  if (r?.minItems !== undefined) s.minItems = r.minItems;
  if (r?.maxItems !== undefined) s.maxItems = r.maxItems;
  return s;
}

function messageSchema(m: DescMessage, schemas: Record<string, Schema>, omit: string[] = []): Schema {
  const fields = m.fields.filter((f) => !omit.includes(f.name));
  const required = fields.filter((f) => fieldRules(f)?.required).map((f) => f.name);
  return {
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(fields.map((f) => [f.name, fieldSchema(f, schemas)])),
    ...(required.length > 0 && { required }),
  };
}

function addMessage(m: DescMessage, schemas: Record<string, Schema>): void {
  if (schemas[m.typeName]) return;
  schemas[m.typeName] = {}; // placeholder against cycles
  schemas[m.typeName] = messageSchema(m, schemas);
}

// The documented REST shapes where they are not the response message's JSON.
function documentedResponse(method: DescMethod, schemas: Record<string, Schema>): Record<string, unknown> {
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
      addMessage(method.output, schemas);
      return { description: "OK", content: json(ref(method.output.typeName)) };
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

export function buildOpenApi(service: DescService = GatewayService): Record<string, unknown> {
  const schemas: Record<string, Schema> = {
    Error: {
      type: "object",
      required: ["error"],
      properties: { error: { type: "string", example: "No data available" } },
    },
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const method of service.methods) {
    for (const [i, b] of httpBindings(method).entries()) {
      const responses: Record<string, unknown> = { "200": documentedResponse(method, schemas) };
      const hasInput = method.input.fields.length > 0;
      if (hasInput) {
        responses["400"] = {
          ...errorResponse("Invalid request: malformed JSON or wrong types (\"Invalid request body\"), or a field out of range"),
          headers: { "X-Error-Detail": { description: "For \"Invalid request body\": what was wrong with it", schema: { type: "string" } } },
        };
      }
      if (TAKES_DATA.has(method.localName)) responses["404"] = errorResponse("No data available (nothing was consumed)");
      if (method.localName === "updateQueueConfig") responses["500"] = errorResponse("Failed to update queue configuration");
      if (QUOTA_METHODS.has(method.localName)) responses["429"] = { ...errorResponse("Over the caller's quota for this source (nothing was consumed)"), headers: QUOTA_HEADERS };
      if (KNOWS_CALLER.has(method.localName)) responses["401"] = errorResponse("X-API-Key names no key of API_KEYS_FILE");
      const op: Record<string, unknown> = {
        // operationIds are unique: additional bindings get a numbered one.
        operationId: i === 0 ? method.localName : `${method.localName}${i + 1}`,
        summary: SUMMARIES[method.localName] ?? method.name,
        ...(DESCRIPTIONS[method.localName] && { description: DESCRIPTIONS[method.localName](method) }),
        tags: [TAKES_DATA.has(method.localName) || method.localName === "streamData" ? "random" : "gateway"],
        responses,
        // The key is optional: without one the caller is counted by address.
        ...(KNOWS_CALLER.has(method.localName) && { security: [{}, { apiKey: [] }] }),
      };
      if (b.body === "*") {
        addMessage(method.input, schemas);
        op.requestBody = { required: true, content: json(ref(method.input.typeName)) };
      } else if (b.body === "" && hasInput) {
        op.parameters = method.input.fields.map((f) => ({
          name: f.name,
          in: "query",
          required: fieldRules(f)?.required ?? false,
          schema: fieldSchema(f, schemas),
        }));
      }
      (paths[b.path] ??= {})[b.verb.toLowerCase()] = op;
    }
  }
  return {
    openapi: "3.0.3",
    info: {
      title: "LoKey gateway API",
      version: "1.0.0",
      description:
        "Random numbers from a hardware TRNG (an ATECC608A; without one, the OS CSPRNG, named as the source's `origin` in /api/v1/status) " +
        "and from a Fortuna CSPRNG seeded by it. The same operations are served as gRPC, gRPC-Web and Connect (lokey.v1.GatewayService).",
    },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas,
      securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "X-API-Key", description: "A key of API_KEYS_FILE: quotas count per key instead of per address" } },
    },
  };
}

export function openApiRoute(path = "/openapi.json"): RawRoute {
  const text = JSON.stringify(buildOpenApi(), null, 2);
  return { method: "GET", path, handler: (_req, res) => send(res, { body: text }) };
}
