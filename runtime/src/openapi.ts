// The OpenAPI 3 document of a service's REST routes, derived from the proto:
// paths and verbs from the google.api.http annotations (rest-routes.ts),
// request schemas and limits from the messages and their
// (lokey.options.v1.rules), response schemas from the response messages as
// rest-json.ts writes them, and the error answers the transcoder gives. A
// service adds only what the proto cannot say (openapi hooks: summaries, the
// documented shapes that differ from the message's JSON, its own errors).
import { ScalarType, type DescEnum, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { enumShortName } from "./rest-json.js";
import { ERROR_DETAIL_HEADER, send } from "./rest-reply.js";
import { httpBindings } from "./rest-routes.js";
import { fieldRules } from "./rules.js";
import type { RawRoute } from "./server.js";

export type Schema = Record<string, unknown>;
export type Schemas = Record<string, Schema>;
export type Operation = Record<string, unknown> & { responses: Record<string, unknown> };

export const schemaRef = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const jsonContent = (schema: Schema) => ({ "application/json": { schema } });
/** A response with the REST error shape `{"error": "..."}`. */
export const errorResponse = (description: string) => ({ description, content: jsonContent(schemaRef("Error")) });

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

function fieldSchema(f: DescField, schemas: Schemas): Schema {
  const one = (): Schema => {
    if (f.enum) return enumSchema(f.enum);
    if (f.message) return messageRef(f.message, schemas);
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

/** A reference to `m`'s schema, which joins `schemas` (with the messages it holds) the first time. */
export function messageRef(m: DescMessage, schemas: Schemas): Schema {
  if (!schemas[m.typeName]) {
    schemas[m.typeName] = {}; // placeholder against cycles
    const required = m.fields.filter((f) => fieldRules(f)?.required).map((f) => f.name);
    schemas[m.typeName] = {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(m.fields.map((f) => [f.name, fieldSchema(f, schemas)])),
      ...(required.length > 0 && { required }),
    };
  }
  return schemaRef(m.typeName);
}

export interface OpenApiOptions {
  info: Record<string, unknown>;
  /** The documented 200 answer where it is not the response message's REST JSON. */
  response?: (method: DescMethod, schemas: Schemas) => Record<string, unknown> | undefined;
  /** What the proto cannot say about an operation (summary, tags, further answers), added to the generated one. */
  operation?: (method: DescMethod, op: Operation) => void;
  components?: Record<string, unknown>;
}

export function openApiDocument(service: DescService, opts: OpenApiOptions): Record<string, unknown> {
  const schemas: Schemas = {
    Error: {
      type: "object",
      required: ["error"],
      properties: { error: { type: "string", example: "No data available" } },
    },
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const method of service.methods) {
    for (const [i, b] of httpBindings(method).entries()) {
      const ok = opts.response?.(method, schemas) ?? { description: "OK", content: jsonContent(messageRef(method.output, schemas)) };
      const op: Operation = {
        // operationIds are unique: additional bindings get a numbered one.
        operationId: i === 0 ? method.localName : `${method.localName}${i + 1}`,
        summary: method.name,
        responses: { "200": ok },
      };
      const hasInput = method.input.fields.length > 0;
      if (hasInput) {
        op.responses["400"] = {
          ...errorResponse('Invalid request: malformed JSON or wrong types ("Invalid request body"), or a field out of range'),
          headers: { [ERROR_DETAIL_HEADER]: { description: 'For "Invalid request body": what was wrong with it', schema: { type: "string" } } },
        };
      }
      opts.operation?.(method, op);
      if (b.body === "*") {
        op.requestBody = { required: true, content: jsonContent(messageRef(method.input, schemas)) };
      } else if (b.body === "" && hasInput) {
        op.parameters = method.input.fields.map((f) => ({ name: f.name, in: "query", required: fieldRules(f)?.required ?? false, schema: fieldSchema(f, schemas) }));
      }
      (paths[b.path] ??= {})[b.verb.toLowerCase()] = op;
    }
  }
  return {
    openapi: "3.0.3",
    info: opts.info,
    servers: [{ url: "/" }],
    paths,
    components: { schemas, ...opts.components },
  };
}

/** Serves `document` as JSON, rendered once. */
export function openApiRoute(document: Record<string, unknown>, path = "/openapi.json"): RawRoute {
  const text = JSON.stringify(document, null, 2);
  return { method: "GET", path, handler: (_req, res) => send(res, { body: text }) };
}
