// Lets @grpc/grpc-js clients speak the protobuf-es generated types, so there
// is one set of generated code. grpc-js is the client the gateway uses toward
// its upstreams because its channels bring keepalive, reconnection with
// backoff and round-robin balancing over several addresses.
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, create, type DescMessage, type DescMethod, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

export interface GrpcCallOptions {
  /** Relative deadline; the server sees it as grpc-timeout and the call fails with DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

type Unary<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>, opts?: GrpcCallOptions) => Promise<MessageShape<O>>;
type ServerStream<I extends DescMessage, O extends DescMessage> = (req: MessageInitShape<I>, opts?: GrpcCallOptions) => AsyncIterable<MessageShape<O>>;

export type GrpcClient<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? Unary<I, O>
    : S["method"][K] extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? ServerStream<I, O>
      : never;
} & {
  /** The underlying grpc-js client (connectivity state, waitForReady). */
  readonly raw: grpc.Client;
  close(): void;
};

/** TLS towards a LoKey upstream: the CA its certificate chains to, and our own certificate (mutual TLS). */
export interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface GrpcClientOptions {
  /** Extra grpc-js channel options, merged over the defaults below. */
  channelOptions?: grpc.ChannelOptions;
  /** Unset: plain HTTP/2 (loopback only, docs/security.md). */
  tls?: ClientTls;
  /**
   * Share this client's channel (one connection, one keepalive), e.g. a
   * health watch that must fail exactly when the data stream's connection does.
   */
  channelOf?: { readonly raw: grpc.Client };
}

export const defaultChannelOptions: grpc.ChannelOptions = {
  // Ping every connection so a silently dead peer (cable pulled, VM frozen)
  // is noticed within ~5 s (issue 14: upstream loss seen within 5 s) instead
  // of the kernel's TCP timeout of minutes. Our peers are Node HTTP/2 servers,
  // which answer pings without a ping policy (no ENHANCE_YOUR_CALM); the cost
  // is one 17-byte frame each way every 2 s. The timeout leaves room for a
  // peer whose event loop is busy for a moment on a loaded machine.
  "grpc.keepalive_time_ms": 2_000,
  "grpc.keepalive_timeout_ms": 2_500,
  // Our long-lived streams can sit idle while a queue is full; keep pinging.
  "grpc.keepalive_permit_without_calls": 1,
  // Reconnect quickly after a restart of the peer, backing off to only 1 s so
  // a return is seen within about a second (issue 13: not 17-140 s); a few
  // connection attempts a second to a loopback or LAN peer cost nothing.
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 1_000,
  // Spread calls over every address the target resolves to.
  "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  // Room for one 1 MiB Fortuna request plus framing.
  "grpc.max_receive_message_length": 8 * 1024 * 1024,
  // HTTP/2's default 64 KiB receive window costs a round trip per stream
  // message at Fortuna's speed; 1 MiB keeps the pipe full while bounding what a
  // stalled reader leaves in flight (flow control still stops the sender).
  "grpc-node.flow_control_window": 1024 * 1024,
};

/**
 * A grpc-js target for one or more "host:port" addresses: several numeric
 * IPv4 addresses become one balanced `ipv4:` target; a single name uses DNS
 * (round-robin over everything it resolves to).
 */
export function grpcTarget(address: string): string {
  const parts = address.split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length > 1 && parts.every((p) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(p))) return `ipv4:${parts.join(",")}`;
  if (parts.length > 1) throw new Error(`several addresses must be numeric IPv4 host:port pairs, got ${address}`);
  return parts[0].replace(/^https?:\/\//, "");
}

// grpc-message is percent-encoded on the wire (gRPC HTTP/2 protocol spec) and
// grpc-js hands it over as received.
function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const toConnectError = (err: grpc.ServiceError): ConnectError =>
  new ConnectError(decodeGrpcMessage(err.details || err.message), (err.code as number as Code) ?? Code.Unknown);

function callOptions(opts?: GrpcCallOptions): grpc.CallOptions {
  return opts?.timeoutMs !== undefined ? { deadline: new Date(Date.now() + opts.timeoutMs) } : {};
}

// RFC 6066 §3 forbids an IP address as the TLS server name; a loopback
// upstream is checked against the name every LoKey certificate carries.
const LOOPBACK_SERVER_NAME: grpc.ChannelOptions = { "grpc.ssl_target_name_override": "localhost" };
const loopbackIpTarget = (address: string) => address.split(",").every((a) => /^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/.test(a.trim().replace(/^https?:\/\//, "")));

export function createGrpcClient<S extends DescService>(service: S, address: string, opts: GrpcClientOptions = {}): GrpcClient<S> {
  const credentials = opts.tls ? grpc.credentials.createSsl(opts.tls.ca, opts.tls.key ?? null, opts.tls.cert ?? null) : grpc.credentials.createInsecure();
  const raw = new grpc.Client(grpcTarget(address), credentials, {
    ...defaultChannelOptions,
    ...(opts.tls && loopbackIpTarget(address) && LOOPBACK_SERVER_NAME),
    ...opts.channelOptions,
    ...(opts.channelOf && { channelOverride: opts.channelOf.raw.getChannel() }),
  });
  // A shared channel is the owner's to close.
  const client: Record<string, unknown> = { raw, close: () => (opts.channelOf ? undefined : raw.close()) };
  for (const m of service.methods) client[m.localName] = methodCaller(raw, m);
  return client as GrpcClient<S>;
}

function methodCaller(raw: grpc.Client, m: DescMethod) {
  const path = `/${m.parent.typeName}/${m.name}`;
  const serialize = (msg: MessageInitShape<DescMessage>) => Buffer.from(toBinary(m.input, create(m.input, msg)));
  const deserialize = (buf: Buffer) => fromBinary(m.output, buf);
  if (m.methodKind === "unary") {
    return (req: MessageInitShape<DescMessage>, opts?: GrpcCallOptions) =>
      new Promise((resolve, reject) => {
        const onAbort = () => call.cancel();
        const call = raw.makeUnaryRequest(path, serialize, deserialize, req, new grpc.Metadata(), callOptions(opts), (err, res) => {
          // Long-lived signals (a feeder's, a server's) must not collect one listener per call.
          opts?.signal?.removeEventListener("abort", onAbort);
          if (err) reject(toConnectError(err));
          else resolve(res);
        });
        opts?.signal?.addEventListener("abort", onAbort, { once: true });
        if (opts?.signal?.aborted) call.cancel();
      });
  }
  if (m.methodKind === "server_streaming") {
    return (req: MessageInitShape<DescMessage>, opts?: GrpcCallOptions) => ({
      async *[Symbol.asyncIterator]() {
        const call = raw.makeServerStreamRequest(path, serialize, deserialize, req, new grpc.Metadata(), callOptions(opts));
        const onAbort = () => call.cancel();
        opts?.signal?.addEventListener("abort", onAbort, { once: true });
        try {
          // Readable iteration pulls one message at a time: when we stop
          // pulling, grpc-js stops reading and HTTP/2 flow control stops the server.
          for await (const msg of call) yield msg;
        } catch (err) {
          throw "code" in (err as object) ? toConnectError(err as grpc.ServiceError) : err;
        } finally {
          opts?.signal?.removeEventListener("abort", onAbort);
          call.cancel();
        }
      },
    });
  }
  return () => {
    throw new ConnectError(`${m.methodKind} is not supported by the grpc-js adapter`, Code.Unimplemented);
  };
}
