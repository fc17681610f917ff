// What the gateway benchmark measures against and feeds from: a minimal
// node:http server answering POST /api/v1/data's shapes straight from
// crypto.randomBytes (the baseline), and a fake Fortuna answering from
// crypto.randomBytes in a process of its own, as the real Fortuna runs.
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { FortunaService } from "../gen/lokey/fortuna/v1/fortuna_pb.js";
import { bind, silentLogger, startServer } from "../runtime/src/index.js";

// Bytes per value of the formats the benchmark asks for.
const WIDTH: Record<string, 1 | 4> = { uint8: 1, uint32: 4 };

/** The baseline: parse the JSON body, draw the bytes, answer the documented shape. */
export function startBaseline(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { format: string; limit: number };
      if (body.format === "binary") {
        const data = randomBytes(body.limit);
        res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Disposition": "attachment; filename=random.bin", "Content-Length": data.length });
        res.end(data);
        return;
      }
      const width = WIDTH[body.format];
      const data = randomBytes(body.limit * width);
      const read = (i: number) => (width === 1 ? data[i] : data.readUInt32BE(i));
      let text = "[" + read(0);
      for (let i = width; i < data.length; i += width) text += "," + read(i);
      text += "]";
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function fortunaService() {
  return bind(FortunaService, {
    generate: (req) => ({ data: randomBytes(req.size), size: req.size }),
    seed: (req) => ({ status: "reseeded", count: req.seeds.length, reseeded: true }),
    getInfo: () => ({ service: "bench-fortuna", seeded: true }),
    getHealth: () => ({ status: "healthy", seeded: true }),
    async *streamRandom(req, ctx) {
      // The runtime has set chunk_size to the proto's default when unset.
      while (!ctx.signal.aborted) yield { data: randomBytes(req.chunkSize!) };
    },
  });
}

export interface FakeFortuna {
  port: number;
  /** Stops (SIGSTOP) or resumes (SIGCONT) the whole process: the gateway's refill stalls under HTTP/2 flow control. */
  pause(paused: boolean): void;
  close(): Promise<void>;
}

/** The fake Fortuna in a child process (this file, run with FORTUNA_CHILD); resolves its port. */
export async function startFortuna(): Promise<FakeFortuna> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, FORTUNA_CHILD: "1" },
    // The IPC channel closes when this process ends, however it ends: the child follows.
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  const port = Number(/port=(\d+)/.exec(line.toString())?.[1]);
  if (!port) throw new Error(`fake Fortuna did not start: ${line.toString()}`);
  return {
    port,
    pause: (paused) => child.kill(paused ? "SIGSTOP" : "SIGCONT"),
    close: async () => {
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

if (process.env.FORTUNA_CHILD) {
  process.on("disconnect", () => process.exit(0));
  const server = await startServer({ name: "bench-fortuna", port: 0, host: "127.0.0.1", log: silentLogger, bindings: [fortunaService()] });
  process.stdout.write(`port=${server.port}\n`);
}
