// The container's HEALTHCHECK: one grpc.health.v1.Health/Check call to this
// process's own port, exit 0 when SERVING. Plain JavaScript on node:http2, so
// a probe every few seconds costs a bare Node start, not the TypeScript
// loader (docs/security.md: health stays open, no client certificate needed).
//
// gRPC over HTTP/2 (the gRPC HTTP/2 protocol spec): POST /grpc.health.v1.Health/Check,
// content-type application/grpc, a 5-byte frame header (flag, length) before
// the message. HealthCheckRequest{service: ""} encodes to no bytes;
// HealthCheckResponse has one field, `status` (field 1, varint), SERVING = 1.
import { connect } from "node:http2";

const port = Number(process.env.PORT || 8080);
const tls = Boolean(process.env.TLS_CERT_FILE);
const TIMEOUT_MS = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 4000);
const SERVING = 1;

function fail(why) {
  console.error(`unhealthy: ${why}`);
  process.exit(1);
}

// The probe talks to its own process over loopback: the certificate names the
// service, not this address, and proving the server's identity to itself adds nothing.
const session = connect(`${tls ? "https" : "http"}://127.0.0.1:${port}`, tls ? { rejectUnauthorized: false } : {});
session.on("error", (err) => fail(err.message));
setTimeout(() => fail(`no answer within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

const req = session.request({
  ":method": "POST",
  ":path": "/grpc.health.v1.Health/Check",
  "content-type": "application/grpc",
  te: "trailers",
});
const chunks = [];
req.on("data", (c) => chunks.push(c));
req.on("trailers", (trailers) => {
  const code = Number(trailers["grpc-status"]);
  if (code !== 0) fail(`grpc-status ${code}: ${decodeURIComponent(trailers["grpc-message"] || "")}`);
});
req.on("end", () => {
  const body = Buffer.concat(chunks);
  // Frame header: 1 byte compressed flag, 4 bytes big-endian length.
  const message = body.subarray(5, 5 + (body.length >= 5 ? body.readUInt32BE(1) : 0));
  // Field 1, wire type 0: tag byte 0x08, then a one-byte varint for the enum's small values.
  const status = message[0] === 0x08 ? message[1] : 0;
  session.close();
  if (status !== SERVING) fail(`status ${status} (SERVING is ${SERVING})`);
  process.exit(0);
});
req.on("error", (err) => fail(err.message));
req.end(Buffer.alloc(5));
