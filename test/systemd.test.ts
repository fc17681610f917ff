// deploy/systemd: the template unit and its per-service drop-ins parse
// cleanly (systemd-analyze verify prints every unknown key or bad value),
// and keep the sandbox the README promises.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const UNITS = ["lokey@controller.service", "lokey@fortuna.service", "lokey@gateway.service", "lokey.target"];

test("systemd-analyze verify: no warnings for the three instances and the target", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "lokey-systemd-"));
  try {
    cpSync("deploy/systemd", dir, { recursive: true });
    // The trailing colon keeps systemd's own unit directories on the path.
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", ...UNITS], { cwd: dir, env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` }, encoding: "utf8" });
    if (r.error) return t.skip("systemd-analyze is not installed (Debian package systemd)");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "", "every line systemd-analyze prints is a problem in a unit");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the sandbox: dynamic user, read-only system, devices only for the controller's I2C bus", () => {
  const unit = readFileSync("deploy/systemd/lokey@.service", "utf8");
  for (const line of ["DynamicUser=yes", "ProtectSystem=strict", "PrivateDevices=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=", "HOST=127.0.0.1"]) {
    assert.match(unit, new RegExp(`^(Environment=.*\\b)?${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"), line);
  }
  const i2c = readFileSync("deploy/systemd/lokey@controller.service.d/i2c.conf", "utf8");
  assert.match(i2c, /^DevicePolicy=closed$/m);
  assert.match(i2c, /^DeviceAllow=\/dev\/i2c-1 rw$/m);
  const gateway = readFileSync("deploy/systemd/lokey@gateway.service.d/gateway.conf", "utf8");
  assert.match(gateway, /^StateDirectory=lokey$/m);
  assert.match(gateway, /UPSTREAM_CERT_FILE=%d\/tls\.crt/);
  assert.doesNotMatch(gateway, /DeviceAllow/);
});
