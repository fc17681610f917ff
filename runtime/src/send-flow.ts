// Flow control for server streams that take what they send from somewhere
// finite (a queue): take the next message only when everything sent before
// has left for the client, and no more than the client's flow-control window
// takes (RFC 9113 §5.2, §6.9). Node accepts writes into its own buffers
// whatever the window, and waiting for 'drain' only bounds that buffer: a
// client that opens streams and reads nothing would otherwise make the
// handler take a message per stream that nobody receives.
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse, Http2Session } from "node:http2";
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "./rest-request.js";

/**
 * What the flow-controlled streams of one connection may have written and not
 * yet sent, whatever the windows say: a client announcing large windows and
 * reading nothing could otherwise make 100 streams of 1 MiB messages wait in
 * memory. Streams of a connection that holds this much wait for some of it to
 * leave.
 */
export const CONNECTION_UNSENT_BYTES = 4 * 1024 * 1024;
/**
 * The message that finds out whether a client reads on once it has received
 * the window it granted up front, and the one sent while the connection's
 * window is closed. It waits in Node's buffer until a WINDOW_UPDATE opens the
 * window, and its being sent is how the stream learns of it (Node has no event
 * for WINDOW_UPDATE, nor reports a stream's remaining window).
 */
export const PROBE_BYTES = 4096;
/** Envelope and field framing of one message (gRPC: 5 + tag and length; Connect JSON: a little more). */
const FRAMING_BYTES = 32;

/** Callbacks waiting for something to change; each runs once. */
class Waiters {
  private readonly set = new Set<() => void>();

  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.set.delete(done);
        signal.removeEventListener("abort", aborted);
        resolve();
      };
      const aborted = () => {
        this.set.delete(done);
        reject(signal.reason);
      };
      this.set.add(done);
      signal.addEventListener("abort", aborted, { once: true });
    });
  }

  wake(): void {
    for (const w of [...this.set]) w();
  }
}

/** One connection's flow-controlled streams. */
class ConnectionFlow {
  unsent = 0;
  readonly changed = new Waiters();
}

const connections = new WeakMap<object, ConnectionFlow>();

export class SendFlow {
  private installed = false;
  private committed = false;
  private closed = false;
  private pending = 0;
  private pendingBytes = 0;
  /** Bytes of this stream the client's windows took (writes completed). */
  private sentBytes = 0;
  private readonly changed = new Waiters();
  private conn!: ConnectionFlow;
  private commitHead?: () => void;

  constructor(
    private readonly req: NodeRequest,
    private readonly res: NodeResponse,
  ) {}

  /** REST sends its own head (the render hook's headers) instead of the RPC protocol's. */
  onCommit(commit: () => void): void {
    this.commitHead = commit;
  }

  /**
   * Waits until the stream may send again and resolves to how many payload
   * bytes to take for the next message (1..max). The first call also sends
   * the response head, so a client learns that its stream is accepted even
   * while nothing is there to send. Rejects when the call ends.
   */
  async ready(ctx: HandlerContext, max: number): Promise<number> {
    const signal = ctx.signal;
    signal.throwIfAborted();
    if (!this.installed) this.install();
    if (!this.committed) this.commit(ctx);
    for (;;) {
      if (this.closed) throw new ConnectError("the client went away", Code.Canceled);
      if (this.pending > 0) {
        await this.changed.wait(signal);
        continue;
      }
      const session = (this.res as Http2ServerResponse).stream?.session;
      if (!session) return max; // HTTP/1.1: TCP's window is behind the socket's write buffer, which the last write cleared
      if (this.conn.unsent >= CONNECTION_UNSENT_BYTES) {
        await this.conn.changed.wait(signal);
        continue;
      }
      const payload = (wire: number) => Math.max(1, Math.floor((wire - FRAMING_BYTES) * this.payloadRatio()));
      return Math.min(max, payload(this.window(session)));
    }
  }

  /**
   * What to send next, in bytes on the wire. The client grants each stream a
   * window up front (SETTINGS_INITIAL_WINDOW_SIZE, RFC 9113 §6.5.2, §6.9.2):
   * that much is sure to be taken. Beyond it, only a client that reads sends
   * WINDOW_UPDATE; a small probe finds out, and once the client has taken
   * more than its first window it reads, and messages may be as large as that
   * window again. The connection's window bounds every stream's message, down
   * to a probe when it is closed.
   */
  private window(session: Http2Session): number {
    const initial = session.remoteSettings.initialWindowSize ?? 65_535;
    const granted = initial - this.sentBytes;
    let room = granted >= PROBE_BYTES ? granted : this.sentBytes > initial ? initial : PROBE_BYTES;
    room = Math.min(room, Math.max(session.state.remoteWindowSize ?? 0, PROBE_BYTES));
    return room;
  }

  /** Waits until everything written so far was handed to the socket (or the stream ended). */
  async sent(ctx: HandlerContext): Promise<void> {
    while (this.installed && this.pending > 0 && !this.closed) await this.changed.wait(ctx.signal);
  }

  /** Bytes travel as base64 in JSON and gRPC-Web text: 3 payload bytes per 4 sent. */
  private payloadRatio(): number {
    const type = String(this.req.headers["content-type"] ?? "");
    return /json|grpc-web-text/.test(type) ? 0.75 : 1;
  }

  private commit(ctx: HandlerContext): void {
    this.committed = true;
    if (this.commitHead) return this.commitHead();
    if (ctx.method.methodKind !== "server_streaming" || this.res.headersSent) return;
    // connect-node writes the head when the first message is ready, from the
    // same responseHeader; it has gone out, so that later call does nothing.
    const headers: Record<string, string> = {};
    ctx.responseHeader.forEach((value, name) => (headers[name] = value));
    this.res.writeHead(200, headers);
    (this.res as ServerResponse).flushHeaders?.(); // HTTP/1.1 would hold it back until the first body bytes
    (this.res as { writeHead: unknown }).writeHead = () => this.res;
  }

  private install(): void {
    this.installed = true;
    const res = this.res as unknown as { write: (...args: unknown[]) => boolean };
    const key = (this.res as Http2ServerResponse).stream?.session ?? this.req.socket;
    let conn = connections.get(key);
    if (!conn) connections.set(key, (conn = new ConnectionFlow()));
    this.conn = conn;
    const write = res.write;
    res.write = (chunk: unknown, encoding?: unknown, cb?: unknown) => {
      if (typeof encoding === "function") [cb, encoding] = [encoding, undefined];
      const n = typeof chunk === "string" ? Buffer.byteLength(chunk, encoding as BufferEncoding | undefined) : (chunk as Uint8Array).byteLength;
      this.pending++;
      this.pendingBytes += n;
      conn.unsent += n;
      // The callback runs once the bytes were handed to the socket: for
      // HTTP/2, once the client's windows took them.
      return write.call(res, chunk, encoding, (err?: Error | null) => {
        this.done(n);
        if (typeof cb === "function") cb(err);
      });
    };
    this.res.once("close", () => this.close());
  }

  private done(n: number): void {
    if (this.closed) return;
    this.pending--;
    this.pendingBytes -= n;
    this.sentBytes += n;
    this.conn.unsent -= n;
    this.changed.wake();
    this.conn.changed.wake();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.unsent -= this.pendingBytes;
    this.changed.wake();
    this.conn.changed.wake();
  }
}

const NO_FLOW = { ready: (_ctx: HandlerContext, max: number) => Promise.resolve(max), sent: () => Promise.resolve() };

export const sendFlowKey = createContextKey<Pick<SendFlow, "ready" | "sent">>(NO_FLOW, { description: "flow control of the response stream" });

/** The flow of a request's response (set by the runtime for gRPC, Connect and REST). */
export function sendFlowFor(req: NodeRequest, res: NodeResponse): SendFlow {
  return new SendFlow(req, res);
}

/**
 * For server-stream handlers that take their messages from something finite:
 * waits until the stream may send again, and resolves to how many bytes the
 * next message should carry at most (1..max). The first call sends the
 * response head. Rejects with the call's abort reason when it ends.
 */
export function readyToSend(ctx: HandlerContext, max: number): Promise<number> {
  return ctx.values.get(sendFlowKey).ready(ctx, max);
}

/** Waits until every message written so far has been handed to the socket, e.g. before ending a stream with an error. */
export function allSent(ctx: HandlerContext): Promise<void> {
  return ctx.values.get(sendFlowKey).sent(ctx);
}
