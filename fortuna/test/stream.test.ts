import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { FortunaService, StreamRandomRequestSchema } from "../../gen/lokey/fortuna/v1/fortuna_pb.js";
import { HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { fieldRules } from "../../runtime/src/index.js";
import { refPseudoRandom, type RefState } from "./reference.js";
import { settled, startHarness, type Harness } from "./harness.js";

const generated = (h: Harness) => h.fortuna.accumulator.stats().bytesGenerated;

describe("StreamRandom", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.grpc.seed({ seeds: [Buffer.alloc(64, 1)] });
  });
  after(() => h.close());

  // The service generates every chunk of a stream into one buffer, so a chunk
  // the transport had not copied yet would arrive with a later one's bytes:
  // each protocol's chunks are checked, many more than a flow-control window's.
  const transports = {
    grpc: () => createGrpcTransport({ baseUrl: h.base }),
    "grpc-web": () => createGrpcWebTransport({ baseUrl: h.base, httpVersion: "1.1" }),
    connect: () => createConnectTransport({ baseUrl: h.base, httpVersion: "1.1" }),
    "connect json": () => createConnectTransport({ baseUrl: h.base, httpVersion: "1.1", useBinaryFormat: false }),
  };
  for (const [name, transport] of Object.entries(transports)) {
    test(`sends successive generator requests of chunk_size bytes, exactly the published output (${name})`, async () => {
      // Streams of earlier tests have stopped generating.
      await settled(() => generated(h));
      let state: RefState = { key: Buffer.from(h.fortuna.accumulator.generator.key), counter: h.fortuna.accumulator.generator.counter };
      const client = createClient(FortunaService, transport());
      let n = 0;
      for await (const m of client.streamRandom({ chunkSize: 1000 })) {
        const want = refPseudoRandom(state, 1000);
        assert.deepEqual(Buffer.from(m.data), want.out, `chunk ${n}`);
        state = want.state;
        if (++n === 200) break;
      }
    });
  }

  test("chunk_size unset: the proto's default, 65536", async () => {
    assert.equal(fieldRules(StreamRandomRequestSchema.field.chunkSize)?.default, 65536n);
    for await (const m of h.grpc.streamRandom({})) {
      assert.equal(m.data.length, 65536);
      break;
    }
  });

  test("flow control: generation stops while the reader stalls and resumes when it reads again", async () => {
    const chunk = 65536;
    const it = h.grpc.streamRandom({ chunkSize: chunk })[Symbol.asyncIterator]();
    const start = generated(h);
    let read = 0;
    for (let i = 0; i < 2; i++) read += (await it.next()).value!.data.length;
    // The reader stalls: generation must come to rest, a bounded amount ahead
    // (what the HTTP/2 windows and socket buffers hold), instead of running on.
    const stalled = await settled(() => generated(h));
    const ahead = Number(stalled - start) - read;
    assert.ok(ahead >= 0);
    assert.ok(ahead <= 16 * 1024 * 1024, `generated ${ahead} bytes ahead of the reader`);
    // Still stalled later: nothing more was made.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(generated(h), stalled);
    // Reading again makes generation resume.
    const more = Math.ceil(ahead / chunk) + 4;
    for (let i = 0; i < more; i++) read += (await it.next()).value!.data.length;
    assert.ok(generated(h) > stalled);
    await it.return?.(undefined);
    // After the reader leaves, the stream ends and generation stops for good.
    const final = await settled(() => generated(h));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(generated(h), final);
  });
});

describe("health follows seed age on its own", () => {
  let h: Harness;
  before(async () => (h = await startHarness({ maxSeedAgeMs: 200, realClock: true })));
  after(() => h.close());

  test("turns NOT_SERVING without any request once the last reseed is older than the bound", async () => {
    await h.grpc.seed({ seeds: [Buffer.alloc(64, 3)] });
    assert.equal(h.fortuna.health.get(""), Status.SERVING);
    // Event-driven: wait for the registry to change, however long the machine takes.
    await new Promise<void>((resolve) => {
      const off = h.fortuna.health.subscribe((name, status) => {
        if (name === "" && status === Status.NOT_SERVING) {
          off();
          resolve();
        }
      });
    });
    assert.equal(h.fortuna.health.get(FortunaService.typeName), Status.NOT_SERVING);
    assert.match((await h.grpc.getHealth({})).reason, /older than/);
  });
});
