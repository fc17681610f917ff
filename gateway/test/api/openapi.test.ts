// The OpenAPI document must say what the server serves: every proto REST
// route and nothing else, with the proto's fields and limits.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { GatewayService } from "../../../gen/lokey/v1/gateway_pb.js";
import { fieldRules, httpBindings } from "../../../runtime/src/index.js";
import { buildOpenApi } from "../../src/openapi.js";
import { startGateway, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref: string } }> }; parameters?: { name: string; required: boolean; schema: Record<string, unknown> }[]; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, { properties?: Record<string, Record<string, unknown>>; required?: string[] }> };
};

let g: Gateway<FakeEngine>;
let doc: Doc;
before(async () => {
  g = await startGateway();
  const res = await fetch(g.base + "/openapi.json");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^application\/json/);
  doc = (await res.json()) as Doc;
});
after(() => g.close());

const operations = (d: Doc) => Object.entries(d.paths).flatMap(([path, ops]) => Object.keys(ops).map((verb) => `${verb.toUpperCase()} ${path}`)).sort();

test("served document is the built one, OpenAPI 3", () => {
  assert.deepEqual(doc, JSON.parse(JSON.stringify(buildOpenApi())));
  assert.match(doc.openapi, /^3\./);
});

test("paths and verbs are exactly the routes the server serves from the proto", () => {
  const served = g.server.transcoder.list().map((r) => `${r.verb} ${r.path}`).sort();
  assert.deepEqual(operations(doc), served);
  const proto = GatewayService.methods.flatMap((m) => httpBindings(m).map((b) => `${b.verb} ${b.path}`)).sort();
  assert.deepEqual(operations(doc), proto);
  // The documented routes are all there.
  for (const op of ["POST /api/v1/data", "GET /api/v1/health", "GET /api/v1/status", "GET /api/v1/config/queue", "PUT /api/v1/config/queue", "GET /api/v1/config/consume", "PUT /api/v1/config/consume", "GET /metrics", "GET /api/v1/metrics"]) {
    assert.ok(operations(doc).includes(op), op);
  }
});

test("the check fails when a route is missing from the document", () => {
  const broken = JSON.parse(JSON.stringify(doc)) as Doc;
  delete broken.paths["/api/v1/uuids"];
  const served = g.server.transcoder.list().map((r) => `${r.verb} ${r.path}`).sort();
  assert.notDeepEqual(operations(broken), served);
});

test("request schemas carry the proto fields, required flags and rule limits", () => {
  for (const m of GatewayService.methods) {
    for (const b of httpBindings(m)) {
      const op = doc.paths[b.path][b.verb.toLowerCase()];
      if (b.body === "*") {
        const ref = op.requestBody!.content["application/json"].schema.$ref;
        const schema = doc.components.schemas[ref.replace("#/components/schemas/", "")];
        assert.deepEqual(Object.keys(schema.properties!), m.input.fields.map((f) => f.name), m.name);
        for (const f of m.input.fields) {
          const r = fieldRules(f);
          const p = schema.properties![f.name];
          assert.equal(p.minimum, r?.min === undefined ? undefined : Number(r.min), `${m.name}.${f.name} minimum`);
          assert.equal(p.maximum, r?.max === undefined ? undefined : Number(r.max), `${m.name}.${f.name} maximum`);
          assert.equal(schema.required?.includes(f.name) ?? false, r?.required ?? false, `${m.name}.${f.name} required`);
        }
      } else {
        assert.deepEqual((op.parameters ?? []).map((p) => p.name), m.input.fields.map((f) => f.name), m.name);
      }
    }
  }
  const data = doc.components.schemas["lokey.v1.GetDataRequest"].properties!;
  assert.deepEqual(data.format.enum, ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "binary"]);
  assert.deepEqual(data.source.enum, ["trng", "fortuna"]);
});

test("documented responses: bare array or binary for data, text for metrics, errors", () => {
  const data = doc.paths["/api/v1/data"].post.responses as Record<string, { content: Record<string, unknown> }>;
  assert.deepEqual(Object.keys(data["200"].content).sort(), ["application/json", "application/octet-stream"]);
  assert.ok(data["400"] && data["404"]);
  assert.ok((doc.paths["/metrics"].get.responses["200"] as { content: Record<string, unknown> }).content["text/plain"]);
  assert.ok(doc.paths["/api/v1/config/queue"].put.responses["500"]);
  // The documented keys in order, then where the bytes come from (never hiding an OS fallback).
  const status = doc.components.schemas["lokey.v1.QueueStatus"].properties!;
  assert.deepEqual(Object.keys(status), ["polling_count", "queue_current", "queue_capacity", "queue_percentage", "queue_dropped", "consumed_count", "unconsumed_count", "total_generated", "origin", "connected"]);
});

test("every $ref resolves", () => {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length > 0);
  for (const r of refs) assert.ok(doc.components.schemas[r], r);
});
