// The optional access log (ACCESS_LOG, docs/operations.md): off by default;
// when on, one line per request with who asked for what and how it went,
// never what was exchanged; a value that is not a boolean stops the service
// naming the variable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FortunaService } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { ConfigError, createLogger, EnvReader, readCommonConfig } from "../src/index.js";
import { startFixture, type Fixture } from "./fixture.js";
import { eventually } from "./prometheus.js";

interface Line {
  level: string;
  msg: string;
  [field: string]: unknown;
}

function capturing(): { lines: Line[]; raw: string[]; log: ReturnType<typeof createLogger> } {
  const raw: string[] = [];
  const lines: Line[] = [];
  const log = createLogger("fixture", {
    level: "info",
    write: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line) as Line);
    },
  });
  return { lines, raw, log };
}

describe("ACCESS_LOG on", () => {
  let fx: Fixture;
  const out = capturing();
  before(async () => {
    fx = await startFixture({ server: { accessLog: true, log: out.log } });
  });
  after(async () => {
    fx.release();
    await fx.server.close();
  });
  const requests = () => out.lines.filter((l) => l.msg === "request");

  test("one line per request: method, route, code, status, duration, bytes out, client; never a body", async () => {
    const seedHex = "5eed".repeat(16);
    const ok = await fetch(`${fx.base}/generate?size=16`);
    const served = await ok.text();
    const bad = await fetch(`${fx.base}/generate?size=0`);
    await bad.arrayBuffer();
    const seeded = await fetch(`${fx.base}/seed`, { method: "POST", body: JSON.stringify({ seeds: [seedHex] }) });
    await seeded.arrayBuffer();
    const grpc = createClient(FortunaService, createGrpcTransport({ baseUrl: fx.base }));
    const generated = await grpc.generate({ size: 8 });
    await eventually(() => requests().length >= 4, "four access log lines");

    const find = (route: string, code: string) => requests().find((l) => l.route === route && l.code === code) ?? assert.fail(`no line for ${route} ${code}`);
    const [get, refused, seed, rpc] = [find("GET /generate", "ok"), find("GET /generate", "invalid_argument"), find("POST /seed", "ok"), find("/lokey.fortuna.v1.FortunaService/Generate", "ok")];
    assert.equal(requests().length, 4);
    assert.deepEqual(
      { ...get, time: undefined, durationMs: undefined },
      { time: undefined, level: "info", service: "fixture", msg: "request", method: "GET", protocol: "rest", route: "GET /generate", code: "ok", status: 200, durationMs: undefined, bytesOut: Buffer.byteLength(served), client: "127.0.0.1" },
    );
    assert.equal(typeof get.durationMs, "number");
    assert.ok((get.durationMs as number) >= 0);
    assert.deepEqual([refused.route, refused.code, refused.status], ["GET /generate", "invalid_argument", 400]);
    assert.deepEqual([seed.method, seed.route, seed.code], ["POST", "POST /seed", "ok"]);
    assert.deepEqual([rpc.method, rpc.protocol, rpc.route, rpc.code, rpc.status], ["POST", "grpc", "/lokey.fortuna.v1.FortunaService/Generate", "ok", 200]);
    assert.ok((rpc.bytesOut as number) >= 8, "the gRPC answer's bytes are counted");

    // Nothing exchanged is logged: not the query, not the seed posted, not the bytes served.
    const all = out.raw.join("\n");
    assert.doesNotMatch(all, /size=16|size=0/);
    assert.ok(!all.includes(seedHex), "the posted seed is not logged");
    const servedHex = (JSON.parse(served) as { data: string }).data;
    assert.ok(!all.includes(servedHex), "the served bytes are not logged");
    assert.ok(!all.includes(Buffer.from(generated.data).toString("hex")));
  });
});

describe("ACCESS_LOG off (the default)", () => {
  let fx: Fixture;
  const out = capturing();
  before(async () => {
    fx = await startFixture({ server: { log: out.log } });
  });
  after(async () => {
    fx.release();
    await fx.server.close();
  });

  test("requests leave no line", async () => {
    for (const path of ["/generate?size=4", "/generate?size=0", "/nope"]) await (await fetch(fx.base + path)).arrayBuffer();
    // Counted (so closed) before looking: the metrics see every request the log would.
    await eventually(async () => /route="unmatched"/.test(await (await fetch(`${fx.base}/metrics`)).text()), "the last request counted");
    assert.deepEqual(out.lines.filter((l) => l.msg === "request"), []);
  });
});

describe("ACCESS_LOG is validated", () => {
  test("true/1/yes and false/0/no are read, unset is off, anything else names the variable", () => {
    const read = (v?: string) => readCommonConfig(new EnvReader(v === undefined ? {} : { ACCESS_LOG: v }), 1).accessLog;
    assert.equal(read(), false);
    for (const v of ["1", "true", "yes", "on"]) assert.equal(read(v), true, v);
    for (const v of ["0", "false", "no", "off"]) assert.equal(read(v), false, v);
    assert.throws(() => read("sometimes"), (e: unknown) => e instanceof ConfigError && e.variable === "ACCESS_LOG");
  });

  test("a service started with ACCESS_LOG=junk stops at once, naming it", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "fortuna/src/main.ts"], {
      env: { ...process.env, ACCESS_LOG: "junk", PORT: "0", HOST: "127.0.0.1" },
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /"level":"error".*invalid configuration: ACCESS_LOG: must be true or false, got \\"junk\\".*"variable":"ACCESS_LOG"/);
  });
});
