// REST answers an error with the HTTP status Connect gives the same code
// (the Connect protocol's table), except where runtime/src/errors.ts writes
// down a deliberate difference: both halves, for every code, on a real port.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { DELIBERATE } from "../src/errors.js";
import { bind, silentLogger, startServer, type RunningServer } from "../src/index.js";

// Generate's `size` names the code to fail with.
const binding = bind(FortunaService, {
  generate(req) {
    throw new ConnectError(`failing with ${Code[req.size]}`, req.size as Code);
  },
});

let server: RunningServer;
let base: string;
before(async () => {
  server = await startServer({ name: "errors", port: 0, host: "127.0.0.1", log: silentLogger, bindings: [binding] });
  base = `http://127.0.0.1:${server.port}`;
});
after(() => server.close());

const codes = Object.values(Code).filter((c): c is Code => typeof c === "number");

test("every code: REST's status is Connect's, or the deliberate one", async () => {
  for (const code of codes) {
    const connect = await fetch(`${base}/lokey.fortuna.v1.FortunaService/Generate`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ size: code }),
    });
    const rest = await fetch(`${base}/generate?size=${code}`);
    const body = (await rest.json()) as { error: string };
    assert.equal(body.error, `failing with ${Code[code]}`, Code[code]);
    assert.equal(((await connect.json()) as { message: string }).message, `failing with ${Code[code]}`, Code[code]);
    const deliberate = DELIBERATE[code];
    if (deliberate) {
      assert.equal(rest.status, deliberate.status, `${Code[code]}: the deliberate status`);
      assert.notEqual(rest.status, connect.status, `${Code[code]}: listed as a difference, so it is one`);
    } else {
      assert.equal(rest.status, connect.status, `${Code[code]}: Connect's status`);
    }
  }
});

test("the one deliberate difference today: FailedPrecondition is 503 on REST, 400 on Connect", async () => {
  assert.deepEqual(Object.keys(DELIBERATE).map(Number), [Code.FailedPrecondition]);
  const rest = await fetch(`${base}/generate?size=${Code.FailedPrecondition}`);
  assert.equal(rest.status, 503);
});
