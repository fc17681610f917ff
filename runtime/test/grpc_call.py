"""A second, non-JS gRPC implementation (Debian's python3-grpcio) calling a LoKey
server: argv = target, method path, kind (unary|stream), request as hex, max messages.
Prints each response message as hex, one per line; exits 3 with the status on error."""
import sys
import grpc

target, method, kind, request_hex, limit = sys.argv[1:6]
identity = lambda b: b
with grpc.insecure_channel(target) as channel:
    try:
        if kind == "unary":
            call = channel.unary_unary(method, request_serializer=identity, response_deserializer=identity)
            print(call(bytes.fromhex(request_hex), timeout=10).hex())
        else:
            call = channel.unary_stream(method, request_serializer=identity, response_deserializer=identity)
            stream = call(bytes.fromhex(request_hex), timeout=10)
            for i, msg in enumerate(stream):
                print(msg.hex())
                if i + 1 >= int(limit):
                    stream.cancel()
                    break
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            print(f"{err.code().name}: {err.details()}", file=sys.stderr)
            sys.exit(3)
