// A server-streaming method over REST: chunked HTTP, one body piece per
// message. Each message is written only after the previous one drained, so
// a slow reader slows the producer. The head goes out with the first
// message, or as soon as a handler that waits for the client's flow control
// first waits (runtime/src/send-flow.ts), which may be before it has
// anything to send: its headers are then the render hook's for an empty
// message.
import type { ServerResponse } from "node:http";
import { create, type DescMessage } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { asConnectError } from "./errors.js";
import type { Logger } from "./log.js";
import { restJson } from "./rest-json.js";
import type { RestOptions, RestReply } from "./rest-reply.js";
import { clientGone, codeName, noteCode } from "./request-outcome.js";
import type { NodeResponse } from "./rest-request.js";
import { SendFlow, sendFlowKey } from "./send-flow.js";

const NDJSON: RestReply = { headers: { "Content-Type": "application/x-ndjson" } };

export interface RestStream {
  output: DescMessage;
  rest: RestOptions;
  render: ((res: any) => RestReply) | undefined;
  ctx: HandlerContext;
  source: AsyncIterable<unknown>;
  res: NodeResponse;
  log: Logger;
  /** For the log: which method. */
  name: string;
}

export async function streamReply({ output, rest, render, ctx, source, res, log, name }: RestStream): Promise<void> {
  let started = false;
  const head = (reply: RestReply) => {
    if (started) return;
    started = true;
    res.writeHead(reply.status ?? 200, { ...reply.headers });
  };
  const flow = ctx.values.get(sendFlowKey);
  if (flow instanceof SendFlow) {
    flow.onCommit(() => {
      head(render?.(create(output)) ?? NDJSON);
      // HTTP/1.1 would hold the head back until the first body bytes.
      (res as ServerResponse).flushHeaders?.();
    });
  }
  try {
    for await (const item of source) {
      const msg = create(output, item as never);
      const reply = render?.(msg) ?? NDJSON;
      const body = reply.body ?? restJson(output, msg, rest) + "\n";
      head(reply);
      const chunk = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body) + "\n";
      if (!(res as ServerResponse).write(chunk)) await drained(res, ctx.signal);
      if (ctx.signal.aborted) break;
    }
    if (!started) res.writeHead(200, { "Content-Type": "application/octet-stream" });
    res.end();
  } catch (err) {
    if (!started) throw err;
    // The client went away: the request tracker's one line, nothing more.
    if (clientGone(res)) return;
    const ce = asConnectError(err);
    noteCode(res, codeName(ce.code));
    log.warn("REST stream ended by error", { route: name, error: ce.message });
    (res as ServerResponse).destroy();
  }
}

function drained(res: NodeResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.on("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
