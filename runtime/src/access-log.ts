// The optional access log (ACCESS_LOG=true): one line per request, through
// the service's logger, when its answer is complete or cut off. It says who
// asked for what and how it went, never what was exchanged: no bodies, no
// query strings, no headers (random bytes are served once and must not
// linger in logs, docs/security.md). docs/operations.md lists the fields.
import type { Logger } from "./log.js";
import type { Outcome } from "./request-outcome.js";
import type { NodeRequest, NodeResponse } from "./rest-request.js";

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type End = (chunk?: unknown, encoding?: unknown, cb?: unknown) => unknown;

function sizeOf(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === "string") return Buffer.byteLength(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
  return chunk instanceof Uint8Array ? chunk.length : 0;
}

/** One request as the access log will tell it; its body bytes are counted as they are written. */
export class AccessEntry {
  private bytesOut = 0;
  private readonly method: string;

  constructor(
    req: NodeRequest,
    private readonly res: NodeResponse,
    /** Read when the request starts: an HTTP/2 request's socket is gone once its session closes. */
    private readonly client: string,
  ) {
    this.method = req.method ?? "";
    // Every protocol's answer goes out through write() and end() of the response object.
    const r = res as unknown as { write: Write; end: End };
    const write = r.write;
    const end = r.end;
    r.write = (chunk, encoding, cb) => {
      this.bytesOut += sizeOf(chunk, encoding);
      return write.call(res, chunk, encoding, cb);
    };
    r.end = (chunk, encoding, cb) => {
      if (typeof chunk !== "function") this.bytesOut += sizeOf(chunk, encoding);
      return end.call(res, chunk, encoding, cb);
    };
  }

  write(log: Logger, outcome: Outcome, code: string, durationMs: number): void {
    log.info("request", {
      method: this.method,
      protocol: outcome.protocol,
      route: outcome.route,
      code,
      status: this.res.statusCode,
      durationMs: Math.round(durationMs * 1000) / 1000,
      bytesOut: this.bytesOut,
      client: this.client,
    });
  }
}
