"""A second, non-JS gRPC implementation (Debian's python3-grpcio) calling a LoKey
server over TLS: argv = target, CA file, client certificate file or "-", client
key file or "-", method path, request as hex. One unary call with raw bytes.
Prints the response message as hex; exits 3 with "CODE: details" on stderr on error."""
import sys
import grpc

target, ca_file, cert_file, key_file, method, request_hex = sys.argv[1:7]


def read(path):
    if path == "-":
        return None
    with open(path, "rb") as f:
        return f.read()


credentials = grpc.ssl_channel_credentials(
    root_certificates=read(ca_file), private_key=read(key_file), certificate_chain=read(cert_file)
)
identity = lambda b: b
with grpc.secure_channel(target, credentials) as channel:
    try:
        call = channel.unary_unary(method, request_serializer=identity, response_deserializer=identity)
        print(call(bytes.fromhex(request_hex), timeout=30).hex())
    except grpc.RpcError as err:
        print(f"{err.code().name}: {err.details()}", file=sys.stderr)
        sys.exit(3)
