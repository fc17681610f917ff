// gRPC server reflection (grpc.reflection.v1 and the older v1alpha that many
// grpcurl builds still try first), answered from the descriptors embedded in
// the protobuf-es generated code, so `grpcurl list/describe` works with no
// .proto files at hand.
import { createRegistry, toBinary, type DescFile, type DescService, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

// grpc status codes used in ErrorResponse (the reflection protocol carries them as ints).
const GRPC_NOT_FOUND = 5;
const GRPC_INVALID_ARGUMENT = 3;

function withDependencies(files: DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.set(f.name, f);
    f.dependencies.forEach(visit);
  };
  files.forEach(visit);
  return [...seen.values()];
}

/** The reflection request/response shapes shared by v1 and v1alpha. */
type ReflectionRequest = {
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
};
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

export class ReflectionIndex {
  private readonly registry: Registry;
  private readonly filesByName: Map<string, DescFile>;
  private readonly serviceNames: string[];

  constructor(services: DescService[]) {
    const reflected = [...services, ReflectionV1, ReflectionV1Alpha];
    const files = withDependencies(reflected.map((s) => s.file));
    this.registry = createRegistry(...files);
    // DescFile.name drops ".proto"; reflection clients ask by the full path.
    this.filesByName = new Map(files.map((f) => [f.proto.name, f]));
    this.serviceNames = reflected.map((s) => s.typeName);
  }

  /** Adds a service that is served but registered after construction (e.g. health). */
  addServiceName(name: string): void {
    if (!this.serviceNames.includes(name)) this.serviceNames.push(name);
  }

  answer(req: ReflectionRequest): ReflectionAnswer {
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: [...this.serviceNames].sort().map((name) => ({ name })) } };
      case "fileByFilename":
        return this.files(this.filesByName.get(r.value), `file ${r.value}`);
      case "fileContainingSymbol":
        return this.files(this.fileOfSymbol(r.value), `symbol ${r.value}`);
      case "fileContainingExtension": {
        const msg = this.registry.getMessage(r.value.containingType);
        const ext = msg && this.registry.getExtensionFor(msg, r.value.extensionNumber);
        return this.files(ext?.file, `extension ${r.value.extensionNumber} of ${r.value.containingType}`);
      }
      case "allExtensionNumbersOfType": {
        if (!this.registry.getMessage(r.value)) return notFound(`type ${r.value}`);
        const numbers: number[] = [];
        for (const d of this.registry) if (d.kind === "extension" && d.extendee.typeName === r.value) numbers.push(d.number);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } };
      }
      default:
        return { case: "errorResponse", value: { errorCode: GRPC_INVALID_ARGUMENT, errorMessage: "empty reflection request" } };
    }
  }

  private fileOfSymbol(symbol: string): DescFile | undefined {
    const direct = this.registry.get(symbol);
    if (direct) return direct.file;
    // Methods and fields are not registry entries: look up their parent.
    const parent = symbol.slice(0, Math.max(0, symbol.lastIndexOf(".")));
    const owner = this.registry.get(parent);
    if (owner?.kind === "service" && owner.methods.some((m) => m.name === symbol.slice(parent.length + 1))) return owner.file;
    if (owner?.kind === "message" && owner.fields.some((f) => f.name === symbol.slice(parent.length + 1))) return owner.file;
    return undefined;
  }

  // The file first, then its transitive dependencies, as grpc-go does, so a
  // client can build descriptors in one round trip.
  private files(file: DescFile | undefined, what: string): ReflectionAnswer {
    if (!file) return notFound(what);
    const fileDescriptorProto = withDependencies([file]).map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
  }
}

function notFound(what: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: GRPC_NOT_FOUND, errorMessage: `${what} not found` } };
}

function impl(index: ReflectionIndex) {
  return {
    async *serverReflectionInfo(requests: AsyncIterable<ReflectionRequest & { host: string }>) {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: index.answer(req) };
      }
    },
  };
}

export const reflectionV1Impl = (index: ReflectionIndex) =>
  impl(index) as unknown as ServiceImpl<typeof ReflectionV1>;
export const reflectionV1AlphaImpl = (index: ReflectionIndex) =>
  impl(index) as unknown as ServiceImpl<typeof ReflectionV1Alpha>;
export { ReflectionV1, ReflectionV1Alpha };
