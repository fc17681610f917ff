// The status page at `/`: three static files shipped in the repo, read once at
// start-up, drawn in the browser from the public read-only endpoints. It
// works offline (no CDN) and reads nothing from any queue.
import { readFileSync } from "node:fs";
import type { RawRoute } from "../../runtime/src/index.js";
import { send } from "../../runtime/src/index.js";

const dir = new URL("./dashboard/", import.meta.url);

// The page's own files only: a script injected elsewhere could not run here.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const FILES = [
  { path: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { path: "/dashboard/dashboard.js", file: "dashboard.js", type: "text/javascript; charset=utf-8" },
  { path: "/dashboard/dashboard.css", file: "dashboard.css", type: "text/css; charset=utf-8" },
];

export function dashboardRoutes(): RawRoute[] {
  return FILES.map(({ path, file, type }) => {
    const body = readFileSync(new URL(file, dir));
    return {
      method: "GET" as const,
      path,
      handler: (_req, res) => send(res, { headers: { "Content-Type": type, "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache" }, body }),
    };
  });
}
