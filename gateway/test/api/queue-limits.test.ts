// Queue sizes take the original LoKey's 10..1000000 items at every edge:
// REST, the RPCs, the environment variables, and the OpenAPI document says so.
// The engine's own setQueueConfig takes any size; limits belong to the edges.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { GatewayService } from "../../../gen/lokey/v1/gateway_pb.js";
import { ConfigError, createGrpcClient, EnvReader } from "../../../runtime/src/index.js";
import { readGatewayEngineConfig } from "../../src/engine/config.js";
import { put, startGateway, type Gateway } from "./harness.js";
import type { FakeEngine } from "./fake-engine.js";

let g: Gateway<FakeEngine>;
before(async () => {
  g = await startGateway();
});
after(() => g.close());

test("REST: 10 and 1000000 are taken, 9 and 1000001 are 400", async () => {
  assert.equal((await put(g.base, "/api/v1/config/queue", { trng_queue_size: 10, fortuna_queue_size: 1000000 })).status, 200);
  assert.deepEqual(g.engine.getQueueConfig(), { trng: 10, fortuna: 1000000 });
  for (const body of [{ trng_queue_size: 9 }, { fortuna_queue_size: 9 }, { trng_queue_size: 1000001 }, { fortuna_queue_size: 1000001 }]) {
    const r = await put(g.base, "/api/v1/config/queue", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.text, /must be an integer from 10 to 1000000/);
  }
  assert.deepEqual(g.engine.getQueueConfig(), { trng: 10, fortuna: 1000000 });
});

test("gRPC: INVALID_ARGUMENT below 10", async () => {
  const client = createGrpcClient(GatewayService, g.address);
  try {
    await assert.rejects(client.updateQueueConfig({ trngQueueSize: 9n }), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.InvalidArgument);
      assert.equal(err.rawMessage, "trng_queue_size: must be an integer from 10 to 1000000, got 9");
      return true;
    });
  } finally {
    client.close();
  }
});

test("TRNG_QUEUE_SIZE and FORTUNA_QUEUE_SIZE take the same range", () => {
  for (const name of ["TRNG_QUEUE_SIZE", "FORTUNA_QUEUE_SIZE"]) {
    for (const value of ["9", "1000001"]) {
      assert.throws(() => readGatewayEngineConfig(new EnvReader({ [name]: value })), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, new RegExp(`${name}.*must be an integer from 10 to 1000000`));
        return true;
      });
    }
  }
  const ok = readGatewayEngineConfig(new EnvReader({ TRNG_QUEUE_SIZE: "10", FORTUNA_QUEUE_SIZE: "1000000" }));
  assert.equal(ok.trngQueueSize, 10);
  assert.equal(ok.fortunaQueueSize, 1000000);
});

test("the OpenAPI document gives the range and says whose it is", async () => {
  const doc = (await (await fetch(g.base + "/openapi.json")).json()) as {
    paths: Record<string, Record<string, { description?: string }>>;
    components: { schemas: Record<string, { properties: Record<string, { minimum?: number; maximum?: number }> }> };
  };
  const props = doc.components.schemas["lokey.v1.UpdateQueueConfigRequest"].properties;
  for (const f of ["trng_queue_size", "fortuna_queue_size"]) assert.deepEqual([props[f].minimum, props[f].maximum], [10, 1000000]);
  assert.match(doc.paths["/api/v1/config/queue"].put.description ?? "", /trng_queue_size 10\.\.1000000, fortuna_queue_size 10\.\.1000000\): the original LoKey's limits/);
});
