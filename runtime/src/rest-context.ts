// The handler context of a REST call. connect-es's createHandlerContext
// makes three AbortControllers, three Headers and a listener on the
// shutdown signal per call, and a call ends by aborting them, a DOMException
// each: on the documented API's small requests that was a tenth of the
// server's time. Here a call's signal and headers are made only when a
// handler reads them, and shutdown reaches the calls in flight from one
// listener. A call's signal still aborts when the call ends, as connect's
// do: handlers and the engine may hang clean-up on it.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type { NodeRequest, NodeResponse } from "./rest-request.js";

export function headersOf(req: NodeRequest): Headers {
  const out = new Headers();
  const h = req.headers;
  for (const k in h) {
    const v = h[k];
    // HTTP/2 pseudo-headers (":path") are not headers.
    if (v !== undefined && k.charCodeAt(0) !== 0x3a) out.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return out;
}

/** Why a call's signal aborts when it ended normally: one shared reason, nothing to report. */
const CALL_ENDED = new ConnectError("the call has ended", Code.Canceled);

class RestCallContext implements HandlerContext {
  readonly protocolName = "rest";
  private controller?: AbortController;
  private reqHeader?: Headers;
  private resHeader?: Headers;
  private resTrailer?: Headers;

  constructor(
    readonly method: DescMethod,
    readonly requestMethod: string,
    readonly values: ContextValues,
    private readonly req: NodeRequest,
    private readonly target: URL,
    private readonly calls: RestCalls,
  ) {}

  get signal() {
    if (!this.controller) {
      this.controller = new AbortController();
      this.calls.watch(this.controller);
    }
    return this.controller.signal;
  }
  get service() {
    return this.method.parent;
  }
  get url() {
    return this.target.href;
  }
  get requestHeader() {
    return (this.reqHeader ??= headersOf(this.req));
  }
  get responseHeader() {
    return (this.resHeader ??= new Headers());
  }
  get responseTrailer() {
    return (this.resTrailer ??= new Headers());
  }
  timeoutMs(): number | undefined {
    return undefined; // REST carries no deadline
  }

  /** The response closed: aborts the signal, if anyone took it. Closed before the answer was complete: the client went away. */
  end(complete: boolean): void {
    if (!this.controller) return;
    this.calls.unwatch(this.controller);
    if (complete) this.controller.abort(CALL_ENDED);
    else this.controller.abort();
  }
}

/** The calls in flight whose signal was taken, so shutdown can end them all. */
export class RestCalls {
  private readonly live = new Set<AbortController>();

  constructor(private readonly shutdown: AbortSignal) {
    shutdown.addEventListener("abort", () => {
      for (const c of this.live) c.abort(shutdown.reason);
    }, { once: true });
  }

  watch(controller: AbortController): void {
    if (this.shutdown.aborted) controller.abort(this.shutdown.reason);
    else this.live.add(controller);
  }

  unwatch(controller: AbortController): void {
    this.live.delete(controller);
  }

  open(method: DescMethod, req: NodeRequest, res: NodeResponse, target: URL, values: ContextValues): HandlerContext {
    const ctx = new RestCallContext(method, req.method ?? "GET", values, req, target, this);
    res.once("close", () => ctx.end(res.writableEnded));
    return ctx;
  }
}
