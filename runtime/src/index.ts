// The shared service runtime: everything controller, fortuna and gateway have in common.
export { startServer, bind, type ServerOptions, type RunningServer, type ServiceBinding, type RawRoute } from "./server.js";
export { runService, type ServiceContext, type ServiceSetup, type RunOptions } from "./run.js";
export { HealthRegistry, type ServingState } from "./health.js";
export { EnvReader, ConfigError, readCommonConfig, type CommonConfig } from "./config.js";
export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from "./connections.js";
export { createLogger, silentLogger, type Logger, type LogLevel } from "./log.js";
export { createGrpcClient, grpcTarget, defaultChannelOptions, type GrpcClient, type GrpcCallOptions, type ClientTls } from "./grpc-client.js";
export { peerOf, isLoopbackHost, type Peer } from "./peer.js";
export { Access, accessOf, tokenMatches } from "./access.js";
export { readSecurityConfig, readFileVar, readKeyPair, pemCertificates, type SecurityConfig } from "./security-config.js";
export { httpStatusOf, asConnectError, invalidArgument } from "./errors.js";
export { validateRules, fieldRules, fieldRange } from "./rules.js";
export { restJson, enumShortName, hexToBytes, parseJsonExact, type BytesEncoding } from "./rest-json.js";
export { send, sendJson, healthReply, type RestOptions, type RestReply, type NodeRequest, type NodeResponse } from "./transcoder.js";
export { readyToSend, allSent } from "./send-flow.js";
