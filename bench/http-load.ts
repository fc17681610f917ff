// A wrk-like load generator for small requests: keep-alive HTTP/1.1
// connections, each sending one prepared request and waiting for its answer
// before the next (closed loop, no pipelining), in a process of its own so
// its work does not share the measured server's event loop. It writes
// prepared bytes and reads only the status line and Content-Length, so a
// request costs it a few microseconds: node:http's client costs about what a
// small request costs the server, and would cap and flatten the ratios.
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";

export interface LoadJob {
  port: number;
  method: string;
  path: string;
  body: string;
  concurrency: number;
  ms: number;
}

export interface LoadResult {
  rps: number;
  /** Latency percentiles, milliseconds. */
  p50: number;
  p99: number;
  /** Answers other than 200. */
  failures: number;
  /** Every answer, the warm-up's included: what the server's CPU time during the job is divided by. */
  answers: number;
}

/** The Content-Length of a response head (latin1 text up to the blank line), or -1. */
function contentLength(head: string): number {
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  return m ? Number(m[1]) : -1;
}

/** One connection's closed loop until `deadline` (hrtime ns); resolves its latencies (ns) and non-200 count. */
function drive(job: LoadJob, request: Buffer, deadline: bigint): Promise<{ latencies: number[]; failures: number }> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let failures = 0;
    let pending: Buffer = Buffer.alloc(0);
    let sentAt = 0n;
    const socket: Socket = connect(job.port, "127.0.0.1", () => send());
    socket.setNoDelay(true);
    const send = () => {
      sentAt = process.hrtime.bigint();
      socket.write(request);
    };
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = pending.toString("latin1", 0, end);
      const length = contentLength(head);
      if (length < 0) return reject(new Error(`a response without Content-Length: ${head.split("\r\n", 1)[0]}`));
      if (pending.length < end + 4 + length) return;
      // One request in flight per connection: nothing follows this answer.
      pending = Buffer.alloc(0);
      const now = process.hrtime.bigint();
      latencies.push(Number(now - sentAt));
      if (head.slice(9, 12) !== "200") failures++;
      if (now < deadline) send();
      else socket.end();
    });
    socket.on("error", reject);
    socket.on("close", () => resolve({ latencies, failures }));
  });
}

async function run(job: LoadJob): Promise<LoadResult> {
  const request = Buffer.from(
    `${job.method} ${job.path} HTTP/1.1\r\nHost: 127.0.0.1:${job.port}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(job.body)}\r\n\r\n${job.body}`,
  );
  // Warm-up: the server's code paths compiled, before anything is timed.
  const warm = await Promise.all(Array.from({ length: job.concurrency }, () => drive(job, request, process.hrtime.bigint() + 50_000_000n)));
  const start = process.hrtime.bigint();
  const runs = await Promise.all(Array.from({ length: job.concurrency }, () => drive(job, request, start + BigInt(job.ms) * 1_000_000n)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const at = (q: number) => (latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN) / 1e6;
  const failures = runs.reduce((n, r) => n + r.failures, 0);
  const answers = latencies.length + warm.reduce((n, r) => n + r.latencies.length, 0);
  return { rps: (latencies.length - failures) / seconds, p50: at(0.5), p99: at(0.99), failures, answers };
}

export interface LoadClient {
  run(job: LoadJob): Promise<LoadResult>;
  close(): void;
}

/** The load generator in a child process; jobs run one at a time. */
export function startLoadClient(): LoadClient {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], { execArgv: ["--import", "tsx"], env: { ...process.env, LOAD_CHILD: "1" } });
  let queue: Promise<unknown> = Promise.resolve();
  return {
    run(job) {
      const next = queue.then(async () => {
        child.send(job);
        const [reply] = (await once(child, "message")) as [LoadResult | { error: string }];
        if ("error" in reply) throw new Error(reply.error);
        return reply;
      });
      queue = next.catch(() => undefined);
      return next;
    },
    close: () => void child.kill(),
  };
}

if (process.env.LOAD_CHILD) {
  process.on("disconnect", () => process.exit(0));
  process.on("message", (job: LoadJob) => {
    run(job).then(
      (r) => process.send!(r),
      (err: unknown) => process.send!({ error: String(err) }),
    );
  });
}
