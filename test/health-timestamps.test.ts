// The three services' health answers write their timestamp the one way the
// documented API does (docs/reference/rest-api.md, GET /api/v1/health):
// RFC 3339 in UTC to the second, "2026-11-29T04:22:21Z", read over REST from
// each service on a real port.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startHarness, type Harness } from "../fortuna/test/harness.js";
import { startGateway, type Gateway } from "../gateway/test/api/harness.js";
import type { FakeEngine } from "../gateway/test/api/fake-engine.js";
import { getJson, startRig, type Rig } from "../controller/test/rig.js";

const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let gateway: Gateway<FakeEngine>;
let fortuna: Harness;
let controller: Rig;
before(async () => {
  gateway = await startGateway();
  fortuna = await startHarness({ realClock: true });
  controller = await startRig();
});
after(async () => {
  await gateway.close();
  await fortuna.close();
  await controller.close();
});

test("gateway, Fortuna and controller: GET /health's timestamp is RFC 3339 UTC to the second, taken when answering", async () => {
  for (const [service, url] of [
    ["gateway", `${gateway.base}/api/v1/health`],
    ["fortuna", `${fortuna.base}/health`],
    ["controller", `${controller.base}/health`],
  ]) {
    const from = Math.floor(Date.now() / 1000) * 1000;
    const { body } = await getJson(url);
    const to = Date.now();
    const timestamp = (body as { timestamp: string }).timestamp;
    assert.match(timestamp, RFC3339_SECONDS, service);
    const at = Date.parse(timestamp);
    assert.ok(at >= from && at <= to, `${service}: ${timestamp} is the time of the answer`);
  }
});
