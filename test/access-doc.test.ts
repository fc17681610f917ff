// docs/security.md lists who may call what; the proto's access options are
// the truth. A method whose rule changes without the table (or the reverse)
// fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import { ControllerService } from "../gen/lokey/controller/v1/controller_pb.js";
import { FortunaService } from "../gen/lokey/fortuna/v1/fortuna_pb.js";
import { GatewayService } from "../gen/lokey/v1/gateway_pb.js";
import { Access, accessOf } from "../runtime/src/access.js";

const SERVICES: Record<string, DescService> = { controller: ControllerService, fortuna: FortunaService, gateway: GatewayService };

/** From the table row of `ACCESS_<name>`: "service `Method`, `Method`; service `Method`" as "service.Method" strings. */
function documented(doc: string, name: string): string[] {
  const row = doc.split("\n").find((l) => l.startsWith(`| \`ACCESS_${name}\` |`));
  assert.ok(row, `docs/security.md has a row for ACCESS_${name}`);
  const cell = row.split("|")[2].replace(/\([^)]*\)/g, "");
  return cell.split(";").flatMap((group) => {
    const service = group.trim().split(/\s+/)[0].toLowerCase();
    assert.ok(SERVICES[service], `unknown service ${JSON.stringify(service)} in the ACCESS_${name} row`);
    return [...group.matchAll(/`(\w+)`/g)].map((m) => `${service}.${m[1]}`);
  });
}

function declared(access: Access): string[] {
  return Object.entries(SERVICES).flatMap(([name, s]) => s.methods.filter((m) => accessOf(m) === access).map((m) => `${name}.${m.name}`));
}

test("docs/security.md's access table matches the proto's access options", () => {
  const doc = readFileSync("docs/security.md", "utf8");
  assert.deepEqual(documented(doc, "SERVICE").sort(), declared(Access.SERVICE).sort());
  assert.deepEqual(documented(doc, "ADMIN").sort(), declared(Access.ADMIN).sort());
});
