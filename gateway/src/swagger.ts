// Swagger UI at /swagger/, served from the swagger-ui-dist npm package so it
// works offline (no CDN). Only the package's own files are served, by name
// from a list taken at start-up, so a crafted path cannot reach elsewhere.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import type { NodeRequest, NodeResponse, RawRoute } from "../../runtime/src/index.js";
import { send } from "../../runtime/src/index.js";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".map": "application/json",
};

// Replaces the package's initializer, which points at the public petstore demo.
function initializer(specUrl: string): string {
  return `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(specUrl)},
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
`;
}

export function swaggerRoutes(prefix = "/swagger/", specUrl = "/openapi.json"): RawRoute[] {
  // Resolve the folder through package.json: requiring the package itself
  // would evaluate the browser bundle inside the server.
  const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const files = new Set(readdirSync(dir).filter((f) => CONTENT_TYPES[extname(f)]));
  const cache = new Map<string, Buffer>();
  const init = Buffer.from(initializer(specUrl));

  const handler = (_req: NodeRequest, res: NodeResponse, url: URL) => {
    const path = url.pathname;
    const name = path.slice(prefix.length) || "index.html";
    let body: Buffer | undefined;
    if (name === "swagger-initializer.js") body = init;
    else if (files.has(name)) {
      body = cache.get(name) ?? readFileSync(join(dir, name));
      cache.set(name, body);
    }
    if (!body) return send(res, { status: 404, body: { error: `Not found: ${path}` } });
    send(res, { headers: { "Content-Type": CONTENT_TYPES[extname(name)], "Cache-Control": "public, max-age=3600" }, body });
  };
  const redirect = (_req: NodeRequest, res: NodeResponse) => {
    res.writeHead(301, { Location: prefix });
    res.end();
  };
  return [
    { method: "GET", path: prefix, handler },
    { method: "GET", path: prefix.replace(/\/$/, ""), handler: redirect },
  ];
}
